"""The Trebuchet server: API, store, delivery engine, carriers, webhooks and media.

Nothing in the SDK (``trebuchet``) imports from here; the server depends on the extra
``trebuchet[server]``.
"""
