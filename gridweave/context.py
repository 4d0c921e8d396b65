"""What every resolver gets in ``info.context``: no session (fields resolve concurrently), but the
sessionmaker, the actor and this request's DataLoaders (made on first use: a mutation answered
from the rows it wrote needs none, and making the thirty-odd loaders costs a request ~0.2 ms)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from gridweave.db import Sessionmaker
from gridweave.gate import Gate
from gridweave.resolvers.loaders import Loaders
from gridweave.services.access import Actor
from gridweave.settings import Settings

if TYPE_CHECKING:
    from gridweave.services.coverage import CoverageCache
    from gridweave.subscriptions import ProjectEvents


@dataclass(slots=True)
class Context:
    sessionmaker: Sessionmaker
    settings: Settings
    actor: Actor | None
    sign_in_gate: Gate  # one per process (per app): see resolvers.users.login
    request: Any = None
    response: Any = None
    connection_params: dict[str, Any] | None = None
    # WebSockets: the process's project event fan-out, and when the connection's token expires
    project_events: ProjectEvents | None = None
    token_expires_at: float | None = None
    coverage_cache: CoverageCache | None = None
    made_loaders: Loaders | None = None

    @property
    def loaders(self) -> Loaders:
        if self.made_loaders is None:
            self.made_loaders = Loaders(self.sessionmaker)
        return self.made_loaders

    @loaders.setter
    def loaders(self, loaders: Loaders) -> None:
        self.made_loaders = loaders

    @property
    def client_address(self) -> str:
        """The caller's address as the server saw it: behind a balancer on another machine, set
        ``FORWARDED_ALLOW_IPS`` (uvicorn) so that this is the client's, not the balancer's."""
        client = getattr(self.request, "client", None)
        return str(client.host) if client is not None and client.host else "unknown"
