"""The settings a storage-only command reads (`logs`, `schedule`): the storage account, and the
schedule's safety rails. `Settings` extends them; the function app still validates them all."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, AnyHttpUrl, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from connector.runtime.setting_rules import storage_connection_string, time_zone_name


class StorageSettings(BaseSettings):
    """Storage (`AzureWebJobsStorage`, as a connection string or identity-based) and the rails."""

    model_config = SettingsConfigDict(case_sensitive=True, extra="ignore", frozen=True)

    AZURE_CLIENT_ID: str | None = None

    AzureWebJobsStorage: SecretStr | None = None
    AzureWebJobsStorage__accountName: str | None = None
    AzureWebJobsStorage__tableServiceUri: AnyHttpUrl | None = None
    AzureWebJobsStorage__queueServiceUri: AnyHttpUrl | None = None
    AzureWebJobsStorage__credential: Literal["managedidentity"] | None = None
    AzureWebJobsStorage__clientId: str | None = None

    LEAVER_TIME_ZONE: Annotated[str, AfterValidator(time_zone_name)] = "Europe/Paris"
    MAX_SUDDEN_DEACTIVATIONS: int = Field(default=20, ge=0)
    # Disables a local day (LEAVER_TIME_ZONE) carried out without an operator, whatever their
    # notice; more end dates entered in a day alert once (connector/flows/holds.py).
    MAX_DEACTIVATIONS_PER_DAY: int = Field(default=20, ge=0, le=100_000)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Read only what `load_settings` passes in, so one mapping is the single source."""
        return (init_settings,)

    @field_validator(
        "AzureWebJobsStorage__accountName",
        "AzureWebJobsStorage__tableServiceUri",
        "AzureWebJobsStorage__queueServiceUri",
        "AzureWebJobsStorage__credential",
        "AzureWebJobsStorage__clientId",
        mode="before",
    )
    @classmethod
    def _empty_storage_is_none(cls, value: object) -> object:
        # An optional setting left empty (as local.settings.json.example has them) is unset.
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("AZURE_CLIENT_ID")
    @classmethod
    def _blank_is_unset(cls, value: str | None) -> str | None:
        return value.strip() or None if value is not None else None

    @field_validator("AzureWebJobsStorage")
    @classmethod
    def _connection_string(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            storage_connection_string(value.get_secret_value())
        return value

    @model_validator(mode="after")
    def _storage_is_configured(self) -> StorageSettings:
        identity = (
            self.AzureWebJobsStorage__accountName
            or self.AzureWebJobsStorage__tableServiceUri
            or self.AzureWebJobsStorage__queueServiceUri
        )
        if self.AzureWebJobsStorage is None and not identity:
            raise ValueError(
                "AzureWebJobsStorage is missing: set it to a connection string, or set "
                "AzureWebJobsStorage__accountName (or __tableServiceUri and __queueServiceUri) "
                "for the managed identity"
            )
        if self.AzureWebJobsStorage is None and not self.AzureWebJobsStorage__accountName:
            missing = [
                name
                for name in (
                    "AzureWebJobsStorage__tableServiceUri",
                    "AzureWebJobsStorage__queueServiceUri",
                )
                if getattr(self, name) is None
            ]
            if missing:
                raise ValueError(f"{missing[0]} is missing: the identity-based form needs it")
        return self
