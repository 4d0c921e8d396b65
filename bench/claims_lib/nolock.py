"""``gridweave serve`` with the ledger's advisory lock taken out, to measure what the lock costs.

Every append still runs ``audit_append`` (migration 0008), in the same statements and round trips,
but each with an advisory lock key of its own, so that no append ever waits for another. A
measurement only: without the shared lock two transactions may chain onto the same predecessor,
and the bench reports whether the chain still verifies afterwards. Never run this against data
you keep. Usage: ``python -m bench.claims_lib.nolock serve --port P`` (the gridweave CLI's
arguments).
"""

from __future__ import annotations

import itertools
import os
from typing import Any

from gridweave.services import audit

_KEYS = itertools.count((os.getpid() % 1_000) * 10**12 + 1)
_locked_pending_entry = audit.pending_entry


def pending_entry_without_lock(**kwargs: Any) -> audit.PendingEntry:
    """audit.pending_entry, with a lock key nobody else takes."""
    pending = _locked_pending_entry(**kwargs)
    pending.params["ledger_lock"] = next(_KEYS)
    return pending


def main() -> None:
    audit.pending_entry = pending_entry_without_lock  # type: ignore[assignment]
    from gridweave.cli import app

    app()


if __name__ == "__main__":
    main()
