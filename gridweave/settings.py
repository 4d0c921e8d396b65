"""Every knob, read from the environment (prefix ``GRIDWEAVE_``, plus plain ``DATABASE_URL``)."""

from __future__ import annotations

import secrets
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Literal

from platformdirs import user_data_dir
from pydantic import AliasChoices, BaseModel, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class VisitRuleSetting(BaseModel):
    """One visit-frequency rule (三必访): at least ``min_activities`` service activities in every
    trailing ``period`` in an area where any of ``groups`` lives (no groups: everywhere)."""

    period: Literal["MONTH", "QUARTER", "YEAR"]
    groups: list[
        Literal[
            "ELDERLY_LIVING_ALONE",
            "LEFT_BEHIND_CHILDREN",
            "DISABLED_HOUSEHOLDS",
            "HARDSHIP_HOUSEHOLDS",
            "MOBILE_POPULATION",
        ]
    ] = []
    min_activities: int = Field(default=1, ge=0, le=1_000)


DEFAULT_VISIT_RULES = [
    VisitRuleSetting(period="MONTH", groups=["ELDERLY_LIVING_ALONE", "LEFT_BEHIND_CHILDREN"]),
    VisitRuleSetting(
        period="QUARTER",
        groups=["HARDSHIP_HOUSEHOLDS", "DISABLED_HOUSEHOLDS", "MOBILE_POPULATION"],
    ),
    VisitRuleSetting(period="YEAR"),
]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GRIDWEAVE_", extra="ignore")

    environment: Literal["development", "production"] = "development"
    database_url: str | None = Field(
        default=None, validation_alias=AliasChoices("DATABASE_URL", "GRIDWEAVE_DATABASE_URL")
    )
    data_dir: Path = Field(default_factory=lambda: Path(user_data_dir("gridweave")))
    database_name: str = "gridweave"
    secret_key: str | None = None
    token_ttl_seconds: int = 8 * 3600
    # Sign-in throttling (services/throttle.py): failures within the window, per key.
    login_max_failures: int = 5  # one account from one client address
    login_account_max_failures: int = 50  # one account from all addresses together
    login_address_max_failures: int = 20  # one address over all accounts
    login_failure_window_seconds: int = 900
    login_lockout_seconds: int = 300
    # The sign-in gate (gridweave/gate.py), per process: argon2 verifications at once, sign-ins
    # waiting for a turn, and how long one may wait before it is told to try again.
    login_concurrency: int = 4
    login_queue: int = 16
    login_queue_wait_seconds: float = 5.0

    pool_size: int = 20
    pool_overflow: int = 5
    statement_timeout_ms: int = 15_000
    request_timeout_seconds: float = 20.0

    graphiql: bool | None = None
    introspection: bool | None = None
    max_depth: int = 12
    max_aliases: int = 30
    max_tokens: int = 2_000
    max_cost: int = 50_000
    max_page_size: int = 100
    max_body_bytes: int = 256 * 1024
    import_max_bytes: int = 64 * 1024 * 1024
    import_timeout_seconds: float = 300.0
    max_network_nodes: int = 20_000
    # Request bounds (gridweave/schema/bounds.py): every string and list argument, literal or
    # variable, on both read paths.
    max_string_length: int = 5_000
    max_search_length: int = 100
    max_list_length: int = 200
    max_input_items: int = 5_000
    # "Did you mean ...?" and the names of required fields in error messages.
    schema_hints: bool | None = None
    # uvicorn: close a connection idle between requests after keep_alive_timeout_seconds, and one
    # whose request headers are not complete header_timeout_seconds after it opened (or after its
    # previous response).
    keep_alive_timeout_seconds: int = 5
    header_timeout_seconds: float = 10.0
    compiled_reads: bool = True
    # claimServiceProject answered past strawberry's executor (gridweave/compiled/writes.py);
    # needs compiled_reads, whose parsed documents it shares.
    fast_claims: bool = True
    # Parsed and compiled documents kept per process (an LRU bounded by entries and bytes).
    compiled_cache_bytes: int = 32 * 1024 * 1024
    response_cache: bool = False
    response_cache_entries: int = 1_000
    # GraphQL subscriptions (WebSockets, graphql-transport-ws)
    ws_max_connections: int = 1_000
    ws_max_subscriptions: int = 10
    ws_init_timeout_seconds: float = 10.0
    ws_idle_seconds: float = 120.0
    ws_max_pending_events: int = 100
    ws_recheck_seconds: float = 60.0
    # Purchased services (services/procurement.py). A bid's amount may not exceed its call's cap,
    # which is this unless the call sets its own (每个项目原则上20万元以内).
    procurement_max_bid_amount: Decimal = Decimal("200000")
    # Organization kinds that may bid, and that may issue calls.
    procurement_bidder_kinds: tuple[str, ...] = (
        "SOCIAL_ORGANIZATION",
        "VOLUNTEER_TEAM",
        "SERVICE_CENTER",
    )
    procurement_issuer_kinds: tuple[str, ...] = ("GOVERNMENT_DEPARTMENT", "SERVICE_CENTER")
    # Conflict-free evaluators each bid needs, unless the call says otherwise.
    procurement_evaluators_per_bid: int = 3
    # Steps on the organization graph within which an evaluator's organization conflicts with a
    # bidder (graph/conflicts.py).
    procurement_conflict_steps: int = 2
    # Grades from an aggregate score on 0-100: at least this much for each grade, else FAIL.
    grade_excellent: Decimal = Decimal("90")
    grade_good: Decimal = Decimal("75")
    grade_pass: Decimal = Decimal("60")
    # coverage (issue 12): see README "Coverage"
    coverage_default_max_hops: int = Field(default=1, ge=0, le=10)
    coverage_max_hops: int = Field(default=5, ge=0, le=10)
    coverage_max_categories: int = 50
    coverage_max_areas: int = 1_500_000
    coverage_visit_rules: list[VisitRuleSetting] = Field(
        default_factory=lambda: list(DEFAULT_VISIT_RULES)
    )
    coverage_weights: dict[str, float] = Field(
        default_factory=lambda: {
            "ELDERLY_LIVING_ALONE": 3.0,
            "LEFT_BEHIND_CHILDREN": 3.0,
            "DISABLED_HOUSEHOLDS": 2.0,
            "HARDSHIP_HOUSEHOLDS": 2.0,
            "MOBILE_POPULATION": 0.5,
        }
    )
    coverage_office_m2_per_100_households: int = 30
    coverage_party_threshold: int = 3
    coverage_suggestion_capacity: int = Field(default=3, ge=0, le=1_000)
    coverage_suggestions_per_gap: int = Field(default=3, ge=0, le=20)
    coverage_suggested_gaps: int = Field(default=500, ge=0, le=20_000)
    coverage_cache_entries: int = 8
    log_level: str = "INFO"
    log_json: bool | None = None

    # Running it in production (README: "Running it in production").
    metrics: bool | None = None
    metrics_token: str | None = None
    readiness_timeout_seconds: float = 2.0
    shutdown_timeout_seconds: int = 25
    otel: bool = False
    pg_bin_dir: Path | None = None

    @property
    def is_production(self) -> bool:
        return self.environment == "production"

    @property
    def graphiql_enabled(self) -> bool:
        return not self.is_production if self.graphiql is None else self.graphiql

    @property
    def introspection_enabled(self) -> bool:
        return not self.is_production if self.introspection is None else self.introspection

    @property
    def schema_hints_enabled(self) -> bool:
        return not self.is_production if self.schema_hints is None else self.schema_hints

    @property
    def metrics_enabled(self) -> bool:
        """Development: on. Production: only behind GRIDWEAVE_METRICS_TOKEN (a scraper sends it
        as a bearer token), or when GRIDWEAVE_METRICS=true says the network is trusted."""
        if self.metrics is not None:
            return self.metrics
        return not self.is_production or bool(self.metrics_token)

    def signing_key(self) -> str:
        """The token secret: from settings, or (development only) generated once into data_dir."""
        if self.secret_key:
            if self.is_production and len(self.secret_key) < 32:
                raise RuntimeError("GRIDWEAVE_SECRET_KEY must be at least 32 characters")
            return self.secret_key
        if self.is_production:
            raise RuntimeError("GRIDWEAVE_SECRET_KEY must be set in production")
        return _development_key(self.data_dir.resolve() / "secret_key")


@lru_cache
def _development_key(path: Path) -> str:
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(48))
        path.chmod(0o600)
    return path.read_text().strip()


@lru_cache
def get_settings() -> Settings:
    return Settings()
