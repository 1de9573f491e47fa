"""Settings from the environment: every variable is prefixed ``DSA_AGENT_`` (README's table).

``Settings.from_env(overrides)`` takes a mapping that wins over the environment (the tests use it).
A bad value raises ``ValueError`` naming the variable (parsing: dsa_service.settings).
"""
import os
from dataclasses import dataclass

from dsa_service import settings as env_settings

PREFIX = "DSA_AGENT_"
PROVIDERS = ("none", "openai", "ollama")


@dataclass
class Settings:
    prometheus_url: str = ""
    loki_url: str = ""
    elasticsearch_url: str = ""
    journal_units: str = "nginx.service,postgresql.service,iot-api@*.service"
    results_dir: str = ""
    kubeconfig: str = ""
    inventory: str = ""
    llm_provider: str = "none"
    llm_base_url: str = ""
    llm_model: str = ""
    llm_api_key: str = ""
    llm_timeout: float = 60.0
    api_keys_file: str = ""
    state_dir: str = "./dsa-agent-state"
    rate_limit: str = "60/minute"
    bind: str = "127.0.0.1"
    port: int = 8070
    ui_port: int = 8501
    api_url: str = "http://127.0.0.1:8070"
    ui_api_key: str = ""
    log_level: str = "INFO"
    source_timeout: float = 10.0
    workers: int = 2

    @classmethod
    def from_env(cls, overrides: dict | None = None, environ=None) -> "Settings":
        s = env_settings.load(cls, PREFIX, overrides, environ)
        s.llm_provider = s.llm_provider.strip().lower() or "none"
        if s.llm_provider not in PROVIDERS:
            raise ValueError(f"{PREFIX}LLM_PROVIDER must be one of {', '.join(PROVIDERS)},"
                             f" got {s.llm_provider!r}")
        for name in ("llm_timeout", "source_timeout"):
            if getattr(s, name) <= 0:
                raise ValueError(f"{PREFIX}{name.upper()} must be > 0")
        if not s.api_keys_file:
            s.api_keys_file = os.path.join(s.state_dir, "api_keys.json")
        return s

    @property
    def units(self) -> list[str]:
        return [u.strip() for u in self.journal_units.split(",") if u.strip()]

    @property
    def inventory_dir(self) -> str | None:
        return self.inventory if self.inventory and os.path.isdir(self.inventory) else None
