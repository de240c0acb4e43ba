"""Durable background work: claiming and sending refund attempts (no Reflex here).

Run one in the foreground with ``python -m support_app.worker``; each app process
also embeds one unless SUPPORT_EMBEDDED_WORKER=false (``embedded.embedded_worker``).
"""
