"""What every resolver gets in ``info.context``: no session (fields resolve concurrently), but the
sessionmaker, the actor and this request's DataLoaders."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from gridweave.db import Sessionmaker
from gridweave.services.access import Actor
from gridweave.settings import Settings

if TYPE_CHECKING:
    from gridweave.resolvers.loaders import Loaders
    from gridweave.services.coverage import CoverageCache


@dataclass(slots=True)
class Context:
    sessionmaker: Sessionmaker
    settings: Settings
    actor: Actor | None
    loaders: Loaders
    request: Any = None
    response: Any = None
    connection_params: dict[str, Any] | None = None
    coverage_cache: CoverageCache | None = None
