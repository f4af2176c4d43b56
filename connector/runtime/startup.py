"""The app's start: settings validated, the webhook's and the workers' storage built; or, when a
setting is missing or malformed, what every function says instead of running."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

from connector.flows.intake import Intake
from connector.runtime.settings import Settings, SettingsError, load_settings
from connector.runtime.storage import storage_from_settings
from connector.storage.changes import ChangeFeed
from connector.storage.log import ALERT_PREFIX
from connector.storage.tables import Storage

logger = logging.getLogger(__name__)

# What the webhook answers while the settings are invalid: a 503, which Lucca retries (for a
# day), where the 404 of an app with no function would have it suspend the endpoint at once.
# Generic: the caller is outside, the problem is in the alert line and `connector doctor`.
UNAVAILABLE_STATUS = 503
UNAVAILABLE_BODY = "The connector is unavailable: its settings need an operator."
# The integration log's alert action for it (the alert's `action` dimension).
SETTINGS_INVALID = "settings invalid"


@dataclass(frozen=True)
class Configured:
    """Valid settings and the storage clients built from them (no I/O yet)."""

    settings: Settings
    intake: Intake
    storage: Storage


@dataclass(frozen=True)
class Unconfigured:
    """Settings that were refused: `problem` names them, never a value."""

    problem: str

    def alert(self, function: str) -> None:
        """One `connector alert:` line, as connector/storage/log.py writes them, for the alert
        on those lines (infra/modules/alert.bicep)."""
        logger.warning(
            "%s %s (function %s: %s)", ALERT_PREFIX, SETTINGS_INVALID, function, self.problem
        )

    def refuse(self, function: str) -> SettingsError:
        """The alert line, then the error a queue function raises so the host keeps its
        message for a later try."""
        self.alert(function)
        return SettingsError(f"{SETTINGS_INVALID}: the message is left on the queue")


def start(environ: Mapping[str, str] | None = None) -> Configured | Unconfigured:
    """The settings and storage the functions run on, or why they cannot run."""
    try:
        settings = load_settings(environ)
    except SettingsError as err:
        return Unconfigured(str(err))
    try:
        intake = Intake(
            feed=ChangeFeed(storage_from_settings(settings, fast=True)),
            secrets=settings.webhook_secrets,
            delay_seconds=settings.SYNC_DELAY_SECONDS,
        )
        storage = storage_from_settings(settings)
    except ValueError:
        # The storage SDK refuses a connection string the settings' check let through (an
        # empty EndpointSuffix, a malformed endpoint); its message is not repeated.
        return Unconfigured(
            "setting AzureWebJobsStorage is malformed: the storage clients refuse it"
        )
    return Configured(settings=settings, intake=intake, storage=storage)
