"""Several Asterisk servers, one ACD (issue 16): the `sites:` settings and the pure rules.

settings.py  the `sites:` section of engine.yaml (shape only)
rules.py     what a `sites:` section may not say (unknown agents, duplicates, missing trunks)
dialing.py   who is homed where, and how a call at one site rings an agent at another
outage.py    a site whose link is lost takes out its own agents, and gives them back
The glue: ivr/app/sites.py (settings, file:line), ivr/app/site_links.py (one AMI link per site).
"""
