"""The Lucca, Graph and ACS clients from the settings: which instance, which credential, and
which Lucca OAuth scopes each use asks for."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import urlsplit

from connector.core.net import is_loopback
from connector.domain.mapping import Need, graph_properties, needs_of
from connector.entra.directory import GraphDirectory
from connector.entra.graph import check_base_url
from connector.lucca.client import (
    BASE_SCOPES,
    ESTABLISHMENT_SCOPE,
    EVENTS_SCOPE,
    LEGAL_ENTITY_SCOPE,
    WEBHOOK_WRITE_SCOPE,
)
from connector.lucca.scope_reads import EXTENSIONS_SCOPE, TEMPLATES_SCOPE, LuccaScopeClient
from connector.runtime.identity import azure_credential
from connector.runtime.lucca_settings import LuccaSettings
from connector.runtime.mapping_setting import every_row
from connector.runtime.setting_rules import acs_connection_parts
from connector.runtime.settings import Settings, SettingsError
from connector.storage.ratelimit import LuccaRateLimiter
from connector.storage.tables import Storage

if TYPE_CHECKING:
    from connector.notify.sender import AcsMailer


# What a token needs to read each Lucca resource a mapping row may need, and the collection
# that holds it.
NEED_SCOPES: Final = {
    Need.DEPARTMENT: "departments.readonly",  # one of BASE_SCOPES: every sync token has it
    Need.LEGAL_ENTITY: LEGAL_ENTITY_SCOPE,
    Need.ESTABLISHMENT: ESTABLISHMENT_SCOPE,
}
NEED_COLLECTIONS: Final = {
    Need.DEPARTMENT: "departments",
    Need.LEGAL_ENTITY: "legal-entities",
    Need.ESTABLISHMENT: "business-establishments",
}


def _needs(settings: Settings) -> tuple[Need, ...]:
    """What the sync reads from Lucca, in `Need`'s order: what the owned rows need, and the
    establishment when it gives the leavers' time zone."""
    needs = needs_of(settings.attributes)
    if settings.LEAVER_TIME_ZONE == "establishment":
        needs |= {Need.ESTABLISHMENT}
    return tuple(need for need in Need if need in needs)


def sync_scopes(settings: Settings) -> tuple[str, ...]:
    """What the sync's token asks for: the base scopes, then the scope of each Lucca resource
    the owned rows or the leavers' time zone read (`NEED_SCOPES`), then what SYNC_SCOPE's
    fields read (contract types, custom fields)."""
    needed = [*BASE_SCOPES, *(NEED_SCOPES[n] for n in _needs(settings))]
    return tuple(dict.fromkeys(needed + list(scope_scopes(settings))))


def scope_scopes(settings: Settings) -> tuple[str, ...]:
    """The scopes SYNC_SCOPE's fields need beyond the base ones (departments are in them)."""
    fields = settings.sync_scope.fields if settings.sync_scope is not None else frozenset()
    wanted = [TEMPLATES_SCOPE] if "contractType" in fields else []
    wanted += [EXTENSIONS_SCOPE] if any(f.startswith("extension.") for f in fields) else []
    return tuple(wanted)


def organisation_kinds(settings: Settings) -> tuple[str, ...]:
    """The Lucca collections the reconciliation reads whole (a page of 100 a request, cached by
    the client) because the plan needs an item of them for many employees."""
    return tuple(NEED_COLLECTIONS[need] for need in _needs(settings))


def catch_up_scopes(settings: Settings) -> tuple[str, ...]:
    """The scopes the catch-up's token asks for: events, and the endpoint when one is set."""
    if settings.LUCCA_WEBHOOK_ENDPOINT_ID:
        return (EVENTS_SCOPE, WEBHOOK_WRITE_SCOPE)
    return (EVENTS_SCOPE,)


def lucca_client(
    settings: Settings, storage: Storage, scopes: Iterable[str] | None = None
) -> LuccaScopeClient:
    """A client for the configured Lucca instance, sharing the limiter in `storage`; its token
    asks for `scopes` (the catch-up's), else for the sync's."""
    wanted = sync_scopes(settings) if scopes is None else scopes
    return lucca_scoped_client(settings, storage, wanted)


def lucca_scoped_client(
    settings: LuccaSettings, storage: Storage, scopes: Iterable[str]
) -> LuccaScopeClient:
    """A client whose token asks for exactly `scopes` (the webhook commands': they read only
    the Lucca settings), sharing the limiter in `storage`."""
    return LuccaScopeClient(
        base_url=str(settings.LUCCA_BASE_URL),
        token_url=str(settings.LUCCA_TOKEN_URL),
        client_id=settings.LUCCA_CLIENT_ID,
        client_secret=settings.LUCCA_CLIENT_SECRET.get_secret_value(),
        scopes=scopes,
        limiter=LuccaRateLimiter(
            storage,
            per_minute=settings.LUCCA_MAX_RPM,
            window_seconds=settings.LUCCA_RATE_WINDOW_SECONDS,
        ),
    )


def graph_directory(settings: Settings) -> GraphDirectory:
    """The directory for `GRAPH_BASE_URL` (anonymous on a loopback sandbox, else a token),
    reading every mapping row's property and writing the writable ones."""
    base_url = str(settings.GRAPH_BASE_URL).rstrip("/")
    anonymous = urlsplit(base_url).scheme == "http" and is_loopback(base_url)
    try:
        check_base_url(base_url, anonymous=anonymous)
    except ValueError as err:
        raise SettingsError(f"setting GRAPH_BASE_URL is malformed: {err}") from None
    credential = None if anonymous else azure_credential(settings.AZURE_CLIENT_ID)
    properties = graph_properties(every_row(settings.mapping_rows))
    return GraphDirectory(
        base_url, properties=properties, credential=credential, owns_credential=True
    )


def acs_mailer(settings: Settings) -> AcsMailer:
    """A client on `ACS_CONNECTION_STRING` (its key), or on `ACS_ENDPOINT` with the managed
    identity (Entra ID token for `https://communication.azure.com`)."""
    # Imported here: only the notification timer pays for the email client.
    from azure.communication.email import EmailClient  # noqa: PLC0415
    from azure.core.credentials import AzureKeyCredential  # noqa: PLC0415

    from connector.notify.sender import AcsMailer  # noqa: PLC0415

    options: dict[str, Any] = {"retry_total": 0}
    if settings.ACS_CONNECTION_STRING is not None:
        endpoint, key = acs_connection_parts(settings.ACS_CONNECTION_STRING.get_secret_value())
        client = EmailClient(endpoint, AzureKeyCredential(key), **options)
    elif settings.ACS_ENDPOINT is not None:
        credential = azure_credential(settings.AZURE_CLIENT_ID)
        client = EmailClient(str(settings.ACS_ENDPOINT).rstrip("/"), credential, **options)
    else:  # the settings refuse recipients without one of the two
        raise ValueError("ACS_ENDPOINT or ACS_CONNECTION_STRING is needed to send emails")
    return AcsMailer(client, sender=settings.NOTIFY_SENDER, recipients=settings.notify_recipients)
