"""The guided setup azd's hooks run (`python -m connector setup`), against the Lucca sandbox, the
Key Vault and Resource Manager sandbox (their REST shapes, over HTTP, through the setup's real
clients), the Graph sandbox and Azurite: secrets stored, the endpoint registered with a key of
the webhook function only, and a second run changes nothing (issue 17)."""

from __future__ import annotations

import argparse
import io
import json
from collections.abc import Iterator, Mapping
from typing import Any

import pytest

from connector.cli import doctor as cli_doctor
from connector.cli.common import Context
from connector.cli.setup_steps import Setup, lucca_for_setup
from connector.lucca.models import WEBHOOK_TOPICS
from connector.runtime.azure_admin import FunctionApp, KeyVaultSecrets
from connector.storage.tables import Storage
from tests.azurite import Azurite
from tests.conftest import run_cli, sandbox_settings
from tests.integration.test_cli_doctor import NEEDED
from tests.integration.test_directory import FakeCredential, jwt
from tests.sandboxes.azure_admin import APP, RESOURCE_GROUP, SUBSCRIPTION, AzureAdminSandbox
from tests.sandboxes.graph import GraphSandbox
from tests.sandboxes.lucca import CONNECTOR_SCOPES, LuccaSandbox

pytestmark = pytest.mark.azurite
CLIENT_SECRET = "setup-client-secret-9d41"
WEBHOOK_URL = "https://func-connector-abc.azurewebsites.net/api/lucca/webhook"
REFERENCE = "@Microsoft.KeyVault(VaultName=kv-abc;SecretName={})"


@pytest.fixture
def lucca() -> Iterator[LuccaSandbox]:
    with LuccaSandbox(client_secret=CLIENT_SECRET, rate_limit=1000, window_seconds=1) as running:
        yield running  # type: ignore[misc]


@pytest.fixture
def azure(
    lucca: LuccaSandbox, graph: GraphSandbox, azurite: Azurite, storage: Storage
) -> Iterator[AzureAdminSandbox]:
    """The app as `azd provision` leaves it: its settings, the two secrets as references."""
    settings = sandbox_settings(azurite.connection_string, lucca, graph) | {
        "LUCCA_CLIENT_SECRET": REFERENCE.format("lucca-client-secret"),
        "LUCCA_WEBHOOK_SECRET": REFERENCE.format("lucca-webhook-secret"),
        "LUCCA_WEBHOOK_ENDPOINT_ID": "",
        "CONNECTOR_MODE": "apply",
        "AZURE_CLIENT_ID": "5f0c1a7e-0000-4000-8000-00000000c11d",  # the app's identity
    }
    with AzureAdminSandbox(settings) as sandbox:
        yield sandbox  # type: ignore[misc]


class Run:
    """One run of the setup, recording what it asked, set and printed."""

    def __init__(self, azure: AzureAdminSandbox) -> None:
        self.azure = azure
        self.asked: list[str] = []
        self.azd: dict[str, str] = {}
        self.doctor_environ: dict[str, str] = {}
        self.doctor_out = ""

    def __call__(
        self, answers: list[str] | None = None, *, given: str | None = None, azd_id: str = ""
    ) -> tuple[int, str]:
        replies = list(answers or [])
        out = io.StringIO()
        vault = KeyVaultSecrets(self.azure.base_url)
        app = FunctionApp(
            subscription=SUBSCRIPTION,
            resource_group=RESOURCE_GROUP,
            app=APP,
            arm_url=self.azure.base_url,
        )

        def ask(prompt: str) -> str:
            self.asked.append(prompt)
            return replies.pop(0)

        try:
            code = Setup(
                vault=vault,
                app=app,
                webhook_url=WEBHOOK_URL,
                out=out,
                given_secret=given,
                ask=ask if answers is not None else None,
                set_azd_value=self.azd.__setitem__,
                azd_endpoint_id=azd_id,
                doctor=self._doctor,
            ).run()
        finally:
            vault.close()
            app.close()
        return code, out.getvalue()

    def _doctor(self, environ: Mapping[str, str]) -> int:
        self.doctor_environ = dict(environ)
        out = io.StringIO()
        ctx = Context(args=argparse.Namespace(json=True), environ=environ, out=out, err=out)
        try:
            token = jwt({"roles": NEEDED, "oid": "identity-1"})
            return cli_doctor.doctor(ctx, credential=FakeCredential(token))
        finally:
            ctx.close()
            self.doctor_out = out.getvalue()


def requests_to(sandbox: Any, method: str, fragment: str) -> int:
    return sum(1 for r in sandbox.requests if r.method == method and fragment in r.path)


def test_before_deploy_it_stores_the_client_secret_and_waits_for_the_function(
    azure: AzureAdminSandbox, lucca: LuccaSandbox
) -> None:
    """postprovision on a fresh environment: asked once, checked with Lucca, stored; the
    registration waits for the function (postdeploy)."""
    run = Run(azure)
    code, out = run([CLIENT_SECRET])
    assert code == 0, out
    assert len(run.asked) == 1 and CLIENT_SECRET not in out
    assert azure.vault["lucca-client-secret"] == [CLIENT_SECRET]
    # A placeholder lets the deployed app start before Lucca gives the endpoint's secret.
    [placeholder] = azure.vault["lucca-webhook-secret"]
    assert len(placeholder) == 64 and azure.tags["lucca-webhook-secret"] == {"placeholder": "true"}
    assert "not deployed yet" in out
    assert lucca.count("POST", r"^/lucca-api/webhook-endpoints$") == 0
    assert requests_to(azure, "PUT", "/keys/") == 0 and azure.restarts == 0
    assert run.doctor_environ == {}  # doctor waits for the deployed app


def test_after_deploy_it_registers_with_a_function_key_and_a_second_run_changes_nothing(
    azure: AzureAdminSandbox, lucca: LuccaSandbox
) -> None:
    """postdeploy: a key of lucca_webhook only, the endpoint registered with it, its signing
    secret in Key Vault, the endpoint's id on the app and in azd, doctor passing; then again:
    nothing asked, created, stored or restarted."""
    azure.deploy("lucca_webhook", "logs", "sync_employee")
    run = Run(azure)
    code, out = run([CLIENT_SECRET])
    assert code == 0, out + run.doctor_out

    key = azure.functions["lucca_webhook"]["lucca"]
    assert set(azure.functions["logs"]) == {"default"}  # no other function got a key
    assert requests_to(azure, "POST", "/host/") == 0  # never the host keys or the master key
    [posted] = [
        r for r in lucca.requests if r.method == "POST" and r.path == "/lucca-api/webhook-endpoints"
    ]
    assert posted.json()["webhookUrl"] == f"{WEBHOOK_URL}?code={key}"
    assert posted.json()["topics"] == list(WEBHOOK_TOPICS)
    assert azure.vault["lucca-client-secret"] == [CLIENT_SECRET]
    assert azure.secret("lucca-webhook-secret") == lucca.webhook_secret()
    assert azure.tags["lucca-webhook-secret"] == {"lucca-endpoint": "301"}
    for secret in (CLIENT_SECRET, lucca.webhook_secret(), key):
        assert secret not in out
    assert azure.app_settings["LUCCA_WEBHOOK_ENDPOINT_ID"] == "301"
    assert azure.restarts == 1  # the app re-reads the secrets
    assert run.azd == {"LUCCA_WEBHOOK_ENDPOINT_ID": "301"}
    # doctor ran on the app's settings, references resolved, the identity's left out.
    assert run.doctor_environ["LUCCA_WEBHOOK_SECRET"] == lucca.webhook_secret()
    assert run.doctor_environ["LUCCA_CLIENT_SECRET"] == CLIENT_SECRET
    assert "AZURE_CLIENT_ID" not in run.doctor_environ
    checks = {c["check"]: c for c in json.loads(run.doctor_out)}
    assert checks["webhook endpoint"]["status"] == "PASS"
    assert "endpoint 301" in checks["webhook endpoint"]["detail"]

    again = Run(azure)
    code, out = again(azd_id="301")  # nobody to ask: it must not need to
    assert code == 0, out + again.doctor_out
    assert "Nothing to change." in out
    assert again.asked == [] and again.azd == {}
    assert lucca.count("POST", r"^/lucca-api/webhook-endpoints$") == 1
    assert {name: len(versions) for name, versions in azure.vault.items()} == {
        "lucca-client-secret": 1,
        "lucca-webhook-secret": 2,  # the placeholder, then Lucca's: not rotated again
    }
    assert azure.functions["lucca_webhook"]["lucca"] == key
    assert requests_to(azure, "PUT", "/keys/") == 1 and azure.restarts == 1


def test_a_secret_from_the_environment_is_stored_without_asking(
    azure: AzureAdminSandbox,
) -> None:
    """LUCCA_CLIENT_SECRET set (a pipeline): nobody is asked."""
    code, out = Run(azure)(None, given=CLIENT_SECRET)
    assert code == 0, out
    assert azure.secret("lucca-client-secret") == CLIENT_SECRET


def test_a_refused_secret_is_asked_again_and_never_stored(azure: AzureAdminSandbox) -> None:
    """Lucca refuses the first answer (invalid_client): asked again, only the right one kept."""
    run = Run(azure)
    code, out = run(["not-the-secret", CLIENT_SECRET])
    assert code == 0, out
    assert len(run.asked) == 2 and "Lucca refused it" in out
    assert azure.vault["lucca-client-secret"] == [CLIENT_SECRET]


def test_a_missing_scope_is_said_once_not_asked_again(azure: AzureAdminSandbox) -> None:
    """The API client lacks webhook-endpoints.readwrite: the right secret is not the problem,
    so it is not asked for again, and nothing is stored."""
    scopes = set(CONNECTOR_SCOPES) - {"webhook-endpoints.readwrite"}
    with LuccaSandbox(client_secret=CLIENT_SECRET, scopes=scopes) as narrow:  # type: ignore[misc]
        azure.app_settings |= {
            "LUCCA_BASE_URL": narrow.base_url,
            "LUCCA_TOKEN_URL": f"{narrow.base_url}/connect/token",
        }
        run = Run(azure)
        code, out = run([CLIENT_SECRET, CLIENT_SECRET])
    assert code == 1 and "webhook-endpoints.readwrite" in out
    assert len(run.asked) == 1 and azure.vault == {}


def test_without_a_secret_or_a_terminal_it_says_what_to_set(azure: AzureAdminSandbox) -> None:
    code, out = Run(azure)(None)
    assert code == 1
    assert "LUCCA_CLIENT_SECRET" in out and azure.vault == {}


def test_an_endpoint_whose_secret_was_lost_is_not_doubled(
    azure: AzureAdminSandbox, lucca: LuccaSandbox
) -> None:
    """Lucca has this app's endpoint but Key Vault lacks its secret (Lucca shows it once):
    nothing is created; the operator is told to delete it in Lucca and run again."""
    azure.deploy("lucca_webhook")
    code, _ = Run(azure)([CLIENT_SECRET])
    assert code == 0
    azure.vault.pop("lucca-webhook-secret")
    azure.tags.pop("lucca-webhook-secret")
    code, out = Run(azure)(None)
    assert code == 1 and "delete the endpoint in Lucca" in out
    assert lucca.count("POST", r"^/lucca-api/webhook-endpoints$") == 1


def test_an_upgrade_keeps_what_the_manual_procedure_set_up(
    azure: AzureAdminSandbox, lucca: LuccaSandbox
) -> None:
    """A deployment set up by hand before the hook existed: the secrets (untagged), the key and
    the endpoint are taken as they are; nothing is created or stored."""
    azure.deploy("lucca_webhook")
    azure.functions["lucca_webhook"]["lucca"] = "key-made-by-hand"
    with lucca_for_setup(azure.app_settings, CLIENT_SECRET) as client:
        endpoint, signing = client.create_webhook_endpoint(
            name="by hand",
            webhook_url=f"{WEBHOOK_URL}?code=key-made-by-hand",
            topics=WEBHOOK_TOPICS,
        )
    azure.vault.update({"lucca-client-secret": [CLIENT_SECRET], "lucca-webhook-secret": [signing]})
    azure.app_settings["LUCCA_WEBHOOK_ENDPOINT_ID"] = endpoint.id
    run = Run(azure)
    code, out = run(None, azd_id=endpoint.id)
    assert code == 0, out + run.doctor_out
    assert "Nothing to change." in out
    assert lucca.count("POST", r"^/lucca-api/webhook-endpoints$") == 1
    assert azure.vault["lucca-webhook-secret"] == [signing] and azure.restarts == 0


def test_the_command_needs_azd_s_values() -> None:
    """Outside azd's hook, without the environment's values: exit 3, naming the first."""
    code, _, err = run_cli({}, "setup")
    assert code == 3 and "AZURE_SUBSCRIPTION_ID is missing" in err
