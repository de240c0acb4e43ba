"""Channel names on the bus (support_app.live.bus), one place for publishers and subscribers."""

from __future__ import annotations

# A refund attempt became due (approved, retried, "check with gateway now"); the
# message is the attempt id. The workers wake up and claim what is due.
ATTEMPTS = "attempts"

# Cases, refunds or customers changed (a JSON hint, see support_app.live.changes);
# the pages showing them reload.
CHANGES = "changes"
