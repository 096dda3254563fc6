from hotline_lab.cli import main

main()
