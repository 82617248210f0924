"""The HTTP API (aiohttp): one module per resource, the app and its authentication in app.py and auth.py."""
