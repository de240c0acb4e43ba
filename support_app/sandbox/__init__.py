"""The order-system and payment-gateway sandboxes: their own server process.

``python -m support_app.sandbox`` serves both (``/orders`` and ``/gateway``) from one
SQLite file, so every app process and worker sees the same orders and the same
gateway ledger, and restarts keep them. The app never imports this package: it talks
to the sandboxes over HTTP exactly as it would to the real services.
"""
