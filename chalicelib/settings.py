"""The one settings model: read from the environment once per container."""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

from pydantic import Field, ValidationError, ValidationInfo, field_validator
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

    user_pool_id: str = Field(pattern=r"^[a-z]{2}(-[a-z]+)+-\d_[0-9A-Za-z]+$")
    user_pool_client_id: str = Field(min_length=1)
    jwks_url: str = Field(pattern=r"^https?://")

    # Confirm sign-ups at once, without the e-mailed code. Only where there is no e-mail: locally.
    auto_confirm_signup: bool = False

    max_direct_upload_bytes: int = Field(default=5 * 1024 * 1024, gt=0)

    @field_validator("auto_confirm_signup")
    @classmethod
    def _auto_confirm_only_locally(cls, value: bool, info: ValidationInfo) -> bool:
        if value and info.data.get("stage") != "local":
            raise ValueError("allowed only in the local stage")
        return value

    @property
    def region(self) -> str:
        """The user pool's region: its id is '<region>_<suffix>'."""
        return self.user_pool_id.split("_", 1)[0]

    @property
    def issuer(self) -> str:
        """The `iss` of the pool's tokens (moto names the real AWS host too)."""
        return f"https://cognito-idp.{self.region}.amazonaws.com/{self.user_pool_id}"


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
