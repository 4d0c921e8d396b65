"""What one GraphQL HTTP request turned out to be, filled in by whichever path answered it
(the strawberry extension, or the compiled path) and read by the metrics middleware."""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass


@dataclass(slots=True)
class Observation:
    operation: str = "unknown"
    outcome: str | None = None


# A mutable object in the variable: tasks that copy the context still fill the same one.
_CURRENT: ContextVar[Observation | None] = ContextVar("gridweave_observation", default=None)


def current() -> Observation | None:
    return _CURRENT.get()


def begin() -> tuple[Observation, object]:
    obs = Observation()
    return obs, _CURRENT.set(obs)


def end(token: object) -> None:
    _CURRENT.reset(token)  # type: ignore[arg-type]


def mark(outcome: str) -> None:
    """For the middleware that answers a request itself (a time-out, the database gone)."""
    obs = _CURRENT.get()
    if obs is not None:
        obs.outcome = outcome
