"""The one settings model: read from the environment once per container."""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from chalicelib import __version__

ENV_PREFIX = "SDP_"

Stage = Literal["local", "dev", "stage", "prod"]


class SettingsError(RuntimeError):
    """A setting is missing or invalid; the message names each one."""


class Settings(BaseSettings):
    """Everything the platform reads from its environment.

    Resource names come from template.yaml in AWS and from the local platform on a laptop.
    """

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, frozen=True, extra="ignore")

    stage: Stage
    version: str = __version__

    table_name: str = Field(min_length=3)
    data_bucket: str = Field(min_length=3)
    ingest_queue_name: str = Field(min_length=1)
    ingest_dlq_name: str = Field(min_length=1)

    user_pool_id: str = Field(min_length=1)
    user_pool_client_id: str = Field(min_length=1)
    jwks_url: str = Field(pattern=r"^https?://")

    max_direct_upload_bytes: int = Field(default=5 * 1024 * 1024, gt=0)


def load_settings() -> Settings:
    """Read and validate the settings, turning pydantic's report into one plain message."""
    try:
        return Settings()
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            name = ENV_PREFIX + "_".join(str(part) for part in error["loc"]).upper()
            problems.append(f"{name}: {error['msg']}")
        raise SettingsError("Invalid settings: " + "; ".join(problems)) from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The settings of this container, read on first use and kept for its life."""
    return load_settings()
