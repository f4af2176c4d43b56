"""Settings are validated at start-up; errors name the setting and never show its value."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from connector.lucca.client import BASE_SCOPES
from connector.runtime.clients import organisation_kinds, sync_scopes
from connector.runtime.settings import SettingsError, load_settings, setting_names
from connector.storage.changes import retry_delays

ROOT = Path(__file__).resolve().parents[2]
VALID = {
    "LUCCA_BASE_URL": "https://acme.ilucca.net",
    "LUCCA_CLIENT_ID": "client-id",
    "LUCCA_CLIENT_SECRET": "client-secret-value-41",
    "LUCCA_WEBHOOK_SECRET": "webhook-secret-value-42",
    "AzureWebJobsStorage": "UseDevelopmentStorage=true",
}


def with_changes(**changes: str | None) -> dict[str, str]:
    """The valid settings with some changed (None removes one)."""
    env = dict(VALID)
    for name, value in changes.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return env


def test_defaults() -> None:
    """Only the Lucca credentials and storage are required; the rest have defaults."""
    settings = load_settings(VALID)
    assert str(settings.GRAPH_BASE_URL) == "https://graph.microsoft.com/v1.0"
    assert str(settings.LUCCA_TOKEN_URL) == "https://accounts.world.luccasoftware.com/connect/token"
    assert settings.LEAVER_TIME_ZONE == "Europe/Paris"
    assert settings.MAX_SUDDEN_DEACTIVATIONS == 20
    assert settings.CONNECTOR_MODE == "apply"
    assert settings.SYNC_DELAY_SECONDS == 10
    assert settings.sync_attributes == (
        "surname",
        "givenName",
        "displayName",
        "mail",
        "department",
        "jobTitle",
        "manager",
        "employeeId",
    )
    assert settings.SYNC_UPN is False
    assert settings.webhook_secrets == ("webhook-secret-value-42",)
    assert settings.RETRY_WINDOW_HOURS == 24
    assert retry_delays(settings.RETRY_DELAYS_SECONDS) == (60, 300, 900, 3600)


def test_previous_secret_is_accepted_during_rotation() -> None:
    """Both secrets verify while LUCCA_WEBHOOK_SECRET_PREVIOUS is set; empty means unset."""
    rotated = load_settings(with_changes(LUCCA_WEBHOOK_SECRET_PREVIOUS="old-secret"))
    assert rotated.webhook_secrets == ("webhook-secret-value-42", "old-secret")
    assert load_settings(with_changes(LUCCA_WEBHOOK_SECRET_PREVIOUS="")).webhook_secrets == (
        "webhook-secret-value-42",
    )


@pytest.mark.parametrize("name", ["LUCCA_BASE_URL", "LUCCA_TOKEN_URL"])
def test_lucca_urls_need_https_except_on_loopback(name: str) -> None:
    """An http:// Lucca URL stops start-up with the reason, unless its host is loopback."""
    with pytest.raises(SettingsError) as raised:
        load_settings(with_changes(**{name: "http://lucca.example.net/path-secretish"}))
    assert str(raised.value).startswith(f"setting {name} is malformed: must be an https:// URL")
    assert "secretish" not in str(raised.value)
    for host in ("127.0.0.1:8123", "localhost:8123", "[::1]:8123"):
        settings = load_settings(with_changes(**{name: f"http://{host}/connect/token"}))
        assert str(getattr(settings, name)).startswith("http://")


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"LUCCA_CLIENT_ID": None}, "setting LUCCA_CLIENT_ID is missing"),
        ({"LUCCA_WEBHOOK_SECRET": None}, "setting LUCCA_WEBHOOK_SECRET is missing"),
        ({"LUCCA_WEBHOOK_SECRET": "  "}, "setting LUCCA_WEBHOOK_SECRET is malformed"),
        ({"LUCCA_BASE_URL": "acme-secretish"}, "setting LUCCA_BASE_URL is malformed"),
        ({"GRAPH_BASE_URL": "graph-secretish"}, "setting GRAPH_BASE_URL is malformed"),
        ({"GRAPH_BASE_URL": "http://graph.example/v1.0"}, "setting GRAPH_BASE_URL is malformed"),
        ({"LUCCA_BASE_URL": "http://acme.ilucca.net"}, "setting LUCCA_BASE_URL is malformed"),
        (
            {"LUCCA_TOKEN_URL": "http://accounts.example/connect/token"},
            "setting LUCCA_TOKEN_URL is malformed",
        ),
        ({"LEAVER_TIME_ZONE": "Mars/Olympus"}, "setting LEAVER_TIME_ZONE is malformed"),
        ({"MAX_SUDDEN_DEACTIVATIONS": "-1"}, "setting MAX_SUDDEN_DEACTIVATIONS is malformed"),
        ({"CONNECTOR_MODE": "yolo-secretish"}, "setting CONNECTOR_MODE is malformed"),
        ({"SYNC_DELAY_SECONDS": "soon"}, "setting SYNC_DELAY_SECONDS is malformed"),
        ({"AzureWebJobsStorage": None}, "setting AzureWebJobsStorage is missing"),
        ({"AzureWebJobsStorage": "garbage-secretish"}, "setting AzureWebJobsStorage is malformed"),
        ({"SYNC_ATTRIBUTES": "surname,shoeSize"}, "setting SYNC_ATTRIBUTES is malformed"),
        ({"SYNC_UPN": "perhaps"}, "setting SYNC_UPN is malformed"),
        ({"RETRY_WINDOW_HOURS": "-1"}, "setting RETRY_WINDOW_HOURS is malformed"),
        ({"RETRY_WINDOW_HOURS": "673"}, "setting RETRY_WINDOW_HOURS is malformed"),
        ({"RETRY_WINDOW_HOURS": "a day"}, "setting RETRY_WINDOW_HOURS is malformed"),
        ({"RETRY_DELAYS_SECONDS": "60,5m"}, "setting RETRY_DELAYS_SECONDS is malformed"),
        ({"RETRY_DELAYS_SECONDS": ""}, "setting RETRY_DELAYS_SECONDS is malformed"),
        ({"RETRY_DELAYS_SECONDS": "60,-5"}, "setting RETRY_DELAYS_SECONDS is malformed"),
        ({"RETRY_DELAYS_SECONDS": "60,700000"}, "setting RETRY_DELAYS_SECONDS is malformed"),
        (
            {
                "AzureWebJobsStorage": None,
                "AzureWebJobsStorage__tableServiceUri": "https://st.table.core.windows.net",
            },
            "setting AzureWebJobsStorage__queueServiceUri is missing",
        ),
        ({"NOTIFY_RECIPIENTS": "it-team"}, "setting NOTIFY_RECIPIENTS is malformed"),
        (
            {"NOTIFY_RECIPIENTS": "it@acme.fr", "ACS_ENDPOINT": "https://acs.example"},
            "setting NOTIFY_SENDER is missing",
        ),
        (
            {"NOTIFY_RECIPIENTS": "it@acme.fr", "NOTIFY_SENDER": "DoNotReply@x.azurecomm.net"},
            "setting ACS_ENDPOINT is missing",
        ),
        ({"ACS_ENDPOINT": "http://acs.example.com"}, "setting ACS_ENDPOINT is malformed"),
        (
            {"ACS_CONNECTION_STRING": "endpoint=https://acs.example;key=acs-secretish"},
            "setting ACS_CONNECTION_STRING is malformed",
        ),
        (
            {"ACS_CONNECTION_STRING": "endpoint=http://acs.example;accesskey=acs-secretish"},
            "setting ACS_CONNECTION_STRING is malformed",
        ),
        ({"NOTIFY_LANGUAGE": "de"}, "setting NOTIFY_LANGUAGE is malformed"),
        (
            {"LUCCA_EMPLOYEE_URL_TEMPLATE": "{base}/people/{name}"},
            "setting LUCCA_EMPLOYEE_URL_TEMPLATE is malformed",
        ),
        (
            {"LUCCA_EMPLOYEE_URL_TEMPLATE": "{base}/people"},
            "setting LUCCA_EMPLOYEE_URL_TEMPLATE is malformed",
        ),
        ({"NOTIFY_MAX_PER_MINUTE": "0"}, "setting NOTIFY_MAX_PER_MINUTE is malformed"),
        ({"NOTIFY_DAILY_DIGEST": "7h30"}, "setting NOTIFY_DAILY_DIGEST is malformed"),
        (
            {"ACS_CONNECTION_STRING": "@Microsoft.KeyVault(VaultName=kv;SecretName=acs)"},
            "setting ACS_CONNECTION_STRING is an unresolved Key Vault reference",
        ),
        (
            {"LUCCA_CLIENT_SECRET": "@Microsoft.KeyVault(SecretUri=https://kv.vault.azure.net/s)"},
            "setting LUCCA_CLIENT_SECRET is an unresolved Key Vault reference",
        ),
        (
            {"LUCCA_WEBHOOK_SECRET": "@Microsoft.KeyVault(VaultName=kv;SecretName=wh)"},
            "setting LUCCA_WEBHOOK_SECRET is an unresolved Key Vault reference",
        ),
    ],
)
def test_bad_settings_stop_start_up(changes: dict[str, str | None], expected: str) -> None:
    """A missing, malformed or unresolved setting is named; its value never is."""
    with pytest.raises(SettingsError) as raised:
        load_settings(with_changes(**changes))
    message = str(raised.value)
    assert message.startswith(expected)
    for value in changes.values():
        if value:
            assert value not in message
    for secret in (VALID["LUCCA_CLIENT_SECRET"], VALID["LUCCA_WEBHOOK_SECRET"]):
        assert secret not in message


@pytest.mark.parametrize(
    "identity",
    [
        {"AzureWebJobsStorage__accountName": "stconnector"},
        {
            "AzureWebJobsStorage__tableServiceUri": "https://st.table.core.windows.net",
            "AzureWebJobsStorage__queueServiceUri": "https://st.queue.core.windows.net",
            "AzureWebJobsStorage__credential": "managedidentity",
            "AzureWebJobsStorage__clientId": "00000000-0000-0000-0000-000000000001",
        },
    ],
)
def test_identity_based_storage_is_accepted(identity: dict[str, str]) -> None:
    """The managed-identity form of AzureWebJobsStorage needs no connection string."""
    settings = load_settings(with_changes(AzureWebJobsStorage=None, **identity))
    assert settings.AzureWebJobsStorage is None
    for name, value in identity.items():
        assert str(getattr(settings, name)).rstrip("/") == value


def test_secrets_do_not_show_in_repr() -> None:
    """Printing the settings (a log line, a traceback) does not show the secrets."""
    settings = load_settings(
        with_changes(AzureWebJobsStorage="AccountName=st;AccountKey=storage-key-value")
    )
    shown = repr(settings) + str(settings)
    for secret in ("client-secret-value-41", "webhook-secret-value-42", "storage-key-value"):
        assert secret not in shown


def test_notification_settings() -> None:
    """Recipients split on commas; a loopback http:// ACS endpoint is accepted (tests), and the
    connection string's key never shows in the settings' repr."""
    settings = load_settings(
        with_changes(
            NOTIFY_RECIPIENTS=" it@acme.fr, hr@acme.fr ,",
            NOTIFY_SENDER="DoNotReply@x.azurecomm.net",
            ACS_CONNECTION_STRING="endpoint=http://127.0.0.1:8888/;accesskey=acs-key-value",
            NOTIFY_LANGUAGE="fr",
            NOTIFY_DAILY_DIGEST="07:30",
        )
    )
    assert settings.notify_recipients == ("it@acme.fr", "hr@acme.fr")
    assert "acs-key-value" not in repr(settings) + str(settings)
    assert load_settings(with_changes()).notify_recipients == ()


def test_every_setting_is_in_the_example_and_the_configuration_page() -> None:
    """local.settings.json.example and docs/configuration.md list exactly the settings the code
    reads."""
    example = json.loads((ROOT / "local.settings.json.example").read_text())["Values"]
    host_only = {"FUNCTIONS_WORKER_RUNTIME"}
    assert set(example) - host_only == set(setting_names()) - {
        name for name in setting_names() if name.startswith("AzureWebJobsStorage__")
    }
    page = (ROOT / "docs" / "configuration.md").read_text()
    documented = set(re.findall(r"^\| `([A-Za-z_]+)`", page, flags=re.MULTILINE))
    assert set(setting_names()) <= documented


def test_the_example_file_loads_as_it_is() -> None:
    """local.settings.json.example, copied as it stands, starts the app: its empty optional
    settings (ACS_ENDPOINT, the identity forms) count as unset."""
    example = json.loads((ROOT / "local.settings.json.example").read_text())["Values"]
    settings = load_settings(example)
    assert settings.ACS_ENDPOINT is None and settings.ACS_CONNECTION_STRING is None
    assert settings.CONNECTOR_MODE == "observe"
    blank = load_settings({**example, "AzureWebJobsStorage__accountName": " "})
    assert blank.AzureWebJobsStorage__accountName is None


@pytest.mark.parametrize(
    ("changes", "scopes", "collections"),
    [
        ({}, (), ("departments",)),
        ({"SYNC_ATTRIBUTES": "surname,givenName"}, (), ()),
        (
            {"SYNC_ATTRIBUTES": "surname,companyName,department"},
            ("legal-entities.readonly",),
            ("departments", "legal-entities"),
        ),
        (
            {"SYNC_ATTRIBUTES": "officeLocation,usageLocation"},
            ("legal-entities.readonly", "business-establishments.readonly"),
            ("legal-entities", "business-establishments"),
        ),
        (
            {"SYNC_ATTRIBUTES": "surname", "LEAVER_TIME_ZONE": "establishment"},
            ("business-establishments.readonly",),
            ("business-establishments",),
        ),
    ],
)
def test_lucca_scopes_and_collections_follow_the_owned_rows(
    changes: dict[str, str], scopes: tuple[str, ...], collections: tuple[str, ...]
) -> None:
    """The sync's token asks for the base scopes and what the owned rows (or the leavers'
    time zone) read; the reconciliation reads whole the collections they need."""
    settings = load_settings(with_changes(**changes))
    assert sync_scopes(settings) == (*BASE_SCOPES, *scopes)
    assert organisation_kinds(settings) == collections
