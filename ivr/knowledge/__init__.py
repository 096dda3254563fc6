"""The knowledge base: standard answers (Markdown articles) agents search and get suggested on
the screen-pop. Pure cores: folding.py, article.py, checks.py, indexing.py, suggest.py;
adapters: files.py, store.py, sync.py. See README.md here."""
