"""FastAGI: a sans-IO protocol core (protocol.py) and a thin asyncio server (server.py)."""
