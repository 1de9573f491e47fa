"""Settings from the environment (12-factor): every variable is prefixed ``IOT_API_``.

``create_app(config)`` takes a mapping that overrides the environment, which the tests use.
Parsing (types from the defaults, a bad value names its variable): dsa_service.settings.
"""
from dataclasses import dataclass, field
from urllib.parse import quote

from dsa_service import settings as env_settings

PREFIX = "IOT_API_"


@dataclass
class Settings:
    # Database: either a full URL/DSN or its pieces.
    database_url: str = ""
    db_host: str = "127.0.0.1"
    db_port: int = 5432
    db_name: str = "iot"
    db_user: str = "iot"
    db_password: str = ""
    pool_size: int = 8                # connections per worker process
    pool_timeout: float = 5.0         # seconds to wait for a free connection before 503
    connect_timeout: int = 3
    statement_timeout_ms: int = 10000
    # Ingestion
    batch_limit: int = 1000           # readings per POST /readings (413 above)
    max_body_bytes: int = 4 * 1024 * 1024
    # Middleware
    rate_limit: str = "100/second"    # per API key; "" or "off" disables
    rate_limit_storage: str = "memory://"
    cors_origins: list[str] = field(default_factory=list)
    key_cache_seconds: float = 5.0    # how long a looked-up key is trusted (revocation delay)
    metrics_require_key: bool = False
    access_log: bool = True
    log_level: str = "INFO"
    retry_after_seconds: int = 2      # Retry-After on 503 while the database is unreachable
    # Reference compatibility routes (/iot, /iot/create, /iot/create_table)
    reference_routes: bool = False
    reference_open: bool = False      # True: no API key needed on /iot* (benchmark only)
    reference_cache: bool = True      # GET /iot body cache validated by the database snapshot
    # pod_name of GET /iot on hosts when POD_NAME is unset (the systemd unit sets <host>:<port>)
    instance: str = ""

    @classmethod
    def from_env(cls, overrides: dict | None = None, environ=None) -> "Settings":
        return env_settings.load(cls, PREFIX, overrides, environ)

    def dsn(self) -> str:
        if self.database_url:
            return self.database_url
        auth = quote(self.db_user, safe="")
        if self.db_password:
            auth += ":" + quote(self.db_password, safe="")
        return f"postgresql://{auth}@{self.db_host}:{self.db_port}/{quote(self.db_name, safe='')}"
