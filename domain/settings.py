"""Runtime settings of a service, read from the environment (prefix LADDER_)."""

from functools import lru_cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class ServiceSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LADDER_")

    # plain postgresql://user:password@host:port/db; each db adapter picks its driver
    database_url: str = "postgresql://ladder@127.0.0.1:5432/ladder"
    token_secret: str = Field(default="change-me-in-production-0123456789", min_length=16)
    token_ttl_seconds: int = 3600
    # where each service of the running stage listens, e.g. {"auth": "http://127.0.0.1:8101"}
    services: dict[str, str] = {}
    # adapters chosen by the stage manifest (see domain/wiring.py)
    db_adapter: str = "baseline.db"
    rpc_adapter: str = "baseline.rpc"
    queries_adapter: str = "baseline.queries"
    # size of the shared pool in stages that have one (per process)
    pool_size: int = 10
    # connections of the shared HTTP client in stages that have one (per process)
    http_pool_size: int = 200
    rpc_timeout_seconds: float = 60.0


@lru_cache
def get_settings() -> ServiceSettings:
    return ServiceSettings()
