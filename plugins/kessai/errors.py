"""The small failure taxonomy every job and command shares (SPEC §4.6: a refusal is not retried).

- `Refusal`: a request that no retry can change: a wrong or early date, a closing out of order,
  books not started, a slip's bad data given to a command. The task fails at once (no retries)
  and the operators are mailed; a command prints one line and exits 1.
- `TransientFault`: the world failed for a moment (a lost connection, a server's 5xx, a timeout).
  The task retries with backoff; only when the retries are used up are the operators told.

Anything else is a defect or an unforeseen fault, and is treated as transient: retried, then alerted.
"""

from __future__ import annotations


class Refusal(Exception):
    """A request no retry can change; the message says what was refused and what to do."""


class TransientFault(Exception):
    """A passing fault of a server or the network: retried."""
