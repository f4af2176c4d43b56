"""The settings a command that talks to Lucca only reads (`webhook register|status|ping`):
storage (the shared rate limiter lives there), Lucca's address, its API client and pace.
`Settings` extends them; the function app still validates them all."""

from __future__ import annotations

from pydantic import AnyHttpUrl, Field, SecretStr, field_validator

from connector.core.net import is_loopback
from connector.runtime.storage_settings import StorageSettings


def https_unless_loopback(value: AnyHttpUrl) -> AnyHttpUrl:
    """The client secret, the tokens and the employees' data travel on these: never in clear."""
    if value.scheme != "https" and not is_loopback(value.host or ""):
        raise ValueError("must be an https:// URL (http:// only for a sandbox on loopback)")
    return value


def not_empty(value: SecretStr) -> SecretStr:
    """A secret that is set must hold more than spaces."""
    if not value.get_secret_value().strip():
        raise ValueError("must not be empty")
    return value


class LuccaSettings(StorageSettings):
    """Lucca's instance, the API client and the limiter's pace, with storage's."""

    LUCCA_BASE_URL: AnyHttpUrl
    LUCCA_TOKEN_URL: AnyHttpUrl = AnyHttpUrl(
        "https://accounts.world.luccasoftware.com/connect/token"
    )
    LUCCA_CLIENT_ID: str = Field(min_length=1)
    LUCCA_CLIENT_SECRET: SecretStr
    LUCCA_MAX_RPM: int = Field(default=30, ge=1, le=50)
    LUCCA_RATE_WINDOW_SECONDS: float = Field(default=60.0, gt=0, le=60)
    # The id `python -m connector webhook register` prints; empty: no endpoint status check.
    LUCCA_WEBHOOK_ENDPOINT_ID: str = Field(default="", pattern=r"^[A-Za-z0-9._-]{0,128}$")

    @field_validator("LUCCA_CLIENT_SECRET")
    @classmethod
    def _secret_not_empty(cls, value: SecretStr) -> SecretStr:
        return not_empty(value)

    @field_validator("LUCCA_BASE_URL", "LUCCA_TOKEN_URL")
    @classmethod
    def _lucca_https(cls, value: AnyHttpUrl) -> AnyHttpUrl:
        return https_unless_loopback(value)
