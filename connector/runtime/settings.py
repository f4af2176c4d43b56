"""The connector's settings: app settings (environment variables) validated once at start-up."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Annotated, Literal, TypeVar
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    AnyHttpUrl,
    Field,
    PrivateAttr,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from connector.core.net import is_loopback
from connector.domain.logins import LoginTemplate, parse_template
from connector.domain.mapping import DEFAULT_ATTRIBUTES, Attribute, owned
from connector.domain.sync_scope import SyncScope, parse_sync_scope
from connector.entra.scope import MatchScope, parse_scope
from connector.runtime.lucca_settings import LuccaSettings, https_unless_loopback, not_empty
from connector.runtime.mapping_setting import mapping_rows, owned_rows
from connector.runtime.setting_rules import (
    EMAIL_ADDRESS,
    acs_connection_parts,
    attribute_names,
    daily_time,
    describe,
    email_addresses,
    login_template_text,
    sync_scope_text,
)
from connector.runtime.storage_settings import StorageSettings
from connector.storage.changes import checked_retry_delays

KEY_VAULT_REFERENCE = re.compile(r"^\s*@Microsoft\.KeyVault\(", re.IGNORECASE)

# The identity-based forms of AzureWebJobsStorage, as the Functions host reads them:
# https://learn.microsoft.com/azure/azure-functions/functions-reference#connecting-to-host-storage-with-an-identity
STORAGE_IDENTITY_SETTINGS = (
    "AzureWebJobsStorage__accountName",
    "AzureWebJobsStorage__tableServiceUri",
    "AzureWebJobsStorage__queueServiceUri",
    "AzureWebJobsStorage__credential",
    "AzureWebJobsStorage__clientId",
)

_S = TypeVar("_S", bound=StorageSettings)
PositiveSeconds = Annotated[int, Field(ge=0, le=3600)]


class SettingsError(Exception):
    """A setting is missing or malformed; the message names it, never its value."""


class Settings(LuccaSettings):
    """Every app setting the connector reads, with its default (storage's in `StorageSettings`,
    Lucca's client in `LuccaSettings`)."""

    LUCCA_WEBHOOK_SECRET: SecretStr
    LUCCA_WEBHOOK_SECRET_PREVIOUS: SecretStr | None = None
    GRAPH_BASE_URL: AnyHttpUrl = AnyHttpUrl("https://graph.microsoft.com/v1.0")
    CONNECTOR_MODE: Literal["apply", "observe"] = "apply"
    SYNC_DELAY_SECONDS: PositiveSeconds = 10
    # The escrow (connector/flows/worker.py): transient failures retried for this many hours
    # (0: the host's tries only; 28 days, as Entra provisioning), after these waits in seconds.
    RETRY_WINDOW_HOURS: int = Field(default=24, ge=0, le=28 * 24)
    RETRY_DELAYS_SECONDS: Annotated[str, AfterValidator(checked_retry_delays)] = "60,300,900,3600"
    SYNC_ATTRIBUTES: str = ",".join(DEFAULT_ATTRIBUTES)
    SYNC_UPN: bool = False
    CONTRACT_GAP_DAYS: int = Field(default=0, ge=0, le=366)
    ENABLE_DAYS_BEFORE_START: int = Field(default=0, ge=0, le=60)
    SCHEDULE_TIMER: str = "0 */5 * * * *"
    REVOKE_SESSIONS: bool = True
    RELEASE_HELD_RUN: str = ""
    LIFECYCLE_DATES: bool = False
    # Only accounts in this group or administrative unit are matched by email (group:<id>,
    # au:<id>); with MATCH_SCOPE_ADD_CREATED the connector puts the accounts it creates in it.
    MATCH_SCOPE: str = ""
    MATCH_SCOPE_ADD_CREATED: bool = False
    # Logins built from names for employees without a professional email (docs/logins.md);
    # empty: they are not created. LOGIN_SETS_MAIL: mail is that login too.
    LOGIN_TEMPLATE: Annotated[str, AfterValidator(login_template_text)] = ""
    LOGIN_SETS_MAIL: bool = True

    NOTIFY_RECIPIENTS: str = ""
    NOTIFY_SENDER: str = ""
    ACS_ENDPOINT: AnyHttpUrl | None = None
    ACS_CONNECTION_STRING: SecretStr | None = None
    NOTIFY_LANGUAGE: Literal["en", "fr"] = "en"
    LUCCA_EMPLOYEE_URL_TEMPLATE: str = "{base}/directory/user/{id}"
    NOTIFY_MAX_PER_MINUTE: int = Field(default=5, ge=1, le=10_000)
    NOTIFY_MAX_PER_HOUR: int = Field(default=10, ge=1, le=1_000_000)
    NOTIFY_MAX_ATTEMPTS: int = Field(default=5, ge=1, le=50)
    NOTIFY_TIMER: str = "30 * * * * *"
    NOTIFY_DAILY_DIGEST: Annotated[str, AfterValidator(daily_time)] = ""

    LOG_RETENTION_DAYS: int = Field(default=400, ge=30, le=3650)
    HOUSEKEEPING_TIMER: str = "0 30 3 * * *"
    # The catch-up (connector/flows/catchup.py): NCRONTAB with seconds, six fields.
    CATCHUP_TIMER: str = Field(default="0 */15 * * * *", pattern=r"^\S+( \S+){5}$")
    # The nightly reconciliation (connector/flows/nightly.py): a local time HH:MM, empty for off.
    RECONCILE_AT: str = Field(default="02:00", pattern=r"^(([01]\d|2[0-3]):[0-5]\d)?$")
    RECONCILE_TIMER: str = Field(default="0 */10 * * * *", pattern=r"^\S+( \S+){5}$")
    RECONCILE_MAX_CHANGES: int = Field(default=50, ge=0)
    RECONCILE_LEFT_DAYS: int = Field(default=30, ge=0, le=366)
    # Issue 16, the mapping (connector/runtime/mapping_setting.py): a JSON file of rows beside
    # the table's, relative to the app's root.
    SYNC_MAPPING_FILE: str = ""
    _mapping_rows: tuple[Attribute, ...] = PrivateAttr(default=())
    # After the link and the anchor, the address that finds an existing account
    # (connector/flows/matching.py): mail then the login, the login only, or none.
    MATCH_KEY: Literal["mail", "userPrincipalName", "off"] = "mail"
    # A login held by this employee's own deleted account (or a linked account IT deleted):
    # restore it (connector/flows/deleted_holders.py) instead of reporting it.
    RESTORE_DELETED_ACCOUNTS: bool = False
    # Who is synced (connector/domain/sync_scope.py; empty: everyone), and what happens to a
    # linked account whose employee leaves that scope (connector/flows/scope_gate.py).
    SYNC_SCOPE: Annotated[str, AfterValidator(sync_scope_text)] = ""
    SCOPE_EXIT_ACTION: Literal["ignore", "disable"] = "ignore"
    # Pages of 100 employees one tick of the nightly run reads (its slice): 40 pages cost at
    # most ~80 Lucca requests, under 3 minutes at 30 a minute, well within functionTimeout.
    RECONCILE_SLICE_PAGES: int = Field(default=40, ge=1, le=100)

    @field_validator("LUCCA_WEBHOOK_SECRET")
    @classmethod
    def _not_empty(cls, value: SecretStr) -> SecretStr:
        return not_empty(value)

    @field_validator("LUCCA_WEBHOOK_SECRET_PREVIOUS")
    @classmethod
    def _empty_is_unset(cls, value: SecretStr | None) -> SecretStr | None:
        return None if value is None or not value.get_secret_value().strip() else value

    @field_validator(
        "ACS_ENDPOINT",
        mode="before",
    )
    @classmethod
    def _empty_is_none(cls, value: object) -> object:
        # An optional setting left empty (as local.settings.json.example has them) is unset.
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("GRAPH_BASE_URL")
    @classmethod
    def _https_unless_loopback(cls, value: AnyHttpUrl) -> AnyHttpUrl:
        return https_unless_loopback(value)

    @field_validator("NOTIFY_RECIPIENTS")
    @classmethod
    def _addresses(cls, value: str) -> str:
        for address in email_addresses(value):
            if not EMAIL_ADDRESS.fullmatch(address):
                raise ValueError("must be email addresses separated by commas")
        return value

    @field_validator("NOTIFY_SENDER")
    @classmethod
    def _sender(cls, value: str) -> str:
        if value.strip() and not EMAIL_ADDRESS.fullmatch(value.strip()):
            raise ValueError("must be an email address of the linked sending domain")
        return value.strip()

    @field_validator("ACS_ENDPOINT")
    @classmethod
    def _acs_endpoint(cls, value: AnyHttpUrl | None) -> AnyHttpUrl | None:
        if value is not None and value.scheme != "https" and not is_loopback(value.host or ""):
            raise ValueError(
                "must be an https:// URL (http:// only for a test endpoint on loopback)"
            )
        return value

    @field_validator("ACS_CONNECTION_STRING")
    @classmethod
    def _acs_connection_string(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value().strip():
            return None
        endpoint, _key = acs_connection_parts(value.get_secret_value())
        host = urlsplit(endpoint).hostname or ""
        if not endpoint.startswith("https://") and not is_loopback(host):
            raise ValueError(
                "must be endpoint=https://…;accesskey=… (http:// only for a test endpoint on "
                "loopback)"
            )
        return value

    @field_validator("LUCCA_EMPLOYEE_URL_TEMPLATE")
    @classmethod
    def _employee_url(cls, value: str) -> str:
        try:
            example = value.format(base="https://acme.ilucca.net", id="416")
        except (KeyError, IndexError, ValueError):
            raise ValueError("may use only the placeholders {base} and {id}") from None
        if "{id}" not in value or not example.startswith(("https://", "http://")):
            raise ValueError(
                "must be an address containing {id}, such as {base}/directory/user/{id}"
            )
        return value

    @field_validator("MATCH_SCOPE")
    @classmethod
    def _scope(cls, value: str) -> str:
        parse_scope(value)
        return value.strip()

    @field_validator("SYNC_ATTRIBUTES")
    @classmethod
    def _known_attributes(cls, value: str) -> str:
        owned(attribute_names(value))
        return value

    @model_validator(mode="after")
    def _scope_to_join(self) -> Settings:
        if self.MATCH_SCOPE_ADD_CREATED and not self.MATCH_SCOPE:
            raise ValueError(
                "MATCH_SCOPE is missing: MATCH_SCOPE_ADD_CREATED puts created accounts in it"
            )
        return self

    @model_validator(mode="after")
    def _notifications_can_be_sent(self) -> Settings:
        if not self.notify_recipients:
            return self
        if not self.NOTIFY_SENDER:
            raise ValueError(
                "NOTIFY_SENDER is missing: NOTIFY_RECIPIENTS is set, so emails need a sender "
                "address of the domain linked to Azure Communication Services"
            )
        if self.ACS_ENDPOINT is None and self.ACS_CONNECTION_STRING is None:
            raise ValueError(
                "ACS_ENDPOINT is missing: NOTIFY_RECIPIENTS is set, so emails need the "
                "Communication Services endpoint (with the managed identity), or "
                "ACS_CONNECTION_STRING"
            )
        return self

    @model_validator(mode="after")
    def _mapping_file(self) -> Settings:
        try:
            self._mapping_rows = mapping_rows(self.SYNC_MAPPING_FILE)
        except ValueError as err:
            raise ValueError(f"SYNC_MAPPING_FILE is malformed: {err}") from None
        return self

    @property
    def mapping_rows(self) -> tuple[Attribute, ...]:
        """The rows of SYNC_MAPPING_FILE (none without one)."""
        return self._mapping_rows

    @property
    def attributes(self) -> tuple[Attribute, ...]:
        """The rows the connector owns: SYNC_ATTRIBUTES's, with SYNC_MAPPING_FILE's."""
        return owned_rows(self.sync_attributes, self._mapping_rows)

    @property
    def notify_recipients(self) -> tuple[str, ...]:
        """Who gets the emails; empty: no emails at all."""
        return email_addresses(self.NOTIFY_RECIPIENTS)

    @property
    def webhook_secrets(self) -> tuple[str, ...]:
        """The current signing secret, then the previous one while a rotation is under way."""
        secrets = [self.LUCCA_WEBHOOK_SECRET.get_secret_value()]
        if self.LUCCA_WEBHOOK_SECRET_PREVIOUS is not None:
            secrets.append(self.LUCCA_WEBHOOK_SECRET_PREVIOUS.get_secret_value())
        return tuple(secrets)

    @property
    def match_scope(self) -> MatchScope | None:
        """MATCH_SCOPE parsed; None when unset."""
        return parse_scope(self.MATCH_SCOPE)

    @property
    def login_template(self) -> LoginTemplate | None:
        """LOGIN_TEMPLATE parsed; None when unset."""
        return parse_template(self.LOGIN_TEMPLATE) if self.LOGIN_TEMPLATE else None

    @property
    def sync_scope(self) -> SyncScope | None:
        """SYNC_SCOPE parsed; None when unset (everyone)."""
        return parse_sync_scope(self.SYNC_SCOPE)

    @property
    def sync_attributes(self) -> tuple[str, ...]:
        """The attributes the connector owns, as `SYNC_ATTRIBUTES` names them."""
        return attribute_names(self.SYNC_ATTRIBUTES)


def setting_names() -> frozenset[str]:
    """The names of every setting the connector reads."""
    return frozenset(Settings.model_fields)


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Read and validate the settings; raise `SettingsError` naming what is wrong."""
    return _validated(Settings, environ)


def load_lucca_settings(environ: Mapping[str, str] | None = None) -> LuccaSettings:
    """Storage's and Lucca's client settings (a Lucca-only command's), validated the same way."""
    return _validated(LuccaSettings, environ)


def load_storage_settings(environ: Mapping[str, str] | None = None) -> StorageSettings:
    """Only the storage settings (a storage-only command's), validated as `load_settings` does."""
    return _validated(StorageSettings, environ)


def _validated(model: type[_S], environ: Mapping[str, str] | None) -> _S:
    env = dict(os.environ if environ is None else environ)
    names = frozenset(model.model_fields)
    unresolved = sorted(
        name for name in names if name in env and KEY_VAULT_REFERENCE.match(env[name] or "")
    )
    if unresolved:
        raise SettingsError(
            f"setting {unresolved[0]} is an unresolved Key Vault reference: grant the Function "
            "App's identity the 'Key Vault Secrets User' role on the vault and check the "
            "secret's name"
        )
    known = {name: value for name, value in env.items() if name in names}
    try:
        return model.model_validate(known)
    except ValidationError as err:
        raise SettingsError(describe(err)) from None
