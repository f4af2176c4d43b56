"""`--from-azure APP`: the function app's settings read through Azure Resource Manager and its
Key Vault references resolved, with the operator's credential; the real httpx calls go to the
ARM and Key Vault sandboxes over loopback HTTP. The seam: `AzureAccess` (the project's), given a
credential standing for `az login` and the sandboxes' addresses."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import pytest
from azure.core.credentials import AccessToken
from azure.core.exceptions import ClientAuthenticationError

from connector.cli.from_azure import AzureAccess, reference_address
from connector.cli.main import main
from connector.storage.tables import Storage
from tests.azurite import Azurite
from tests.conftest import sandbox_settings
from tests.sandboxes.azure import ARM_TOKEN, VAULT_TOKEN, ArmSandbox, KeyVaultSandbox
from tests.sandboxes.graph import GraphSandbox
from tests.sandboxes.lucca import LuccaSandbox

pytestmark = pytest.mark.azurite
APP = "func-lucca-acme"


class OperatorLogin:
    """Stands for `az login`: a token for Resource Manager's audience and one for Key Vault's."""

    def __init__(self, *, signed_in: bool = True) -> None:
        self.signed_in = signed_in
        self.scopes: list[str] = []

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        self.scopes.extend(scopes)
        if not self.signed_in:
            raise ClientAuthenticationError("Please run 'az login' to set up an account")
        token = {
            "https://management.azure.com/.default": ARM_TOKEN,
            "https://vault.azure.net/.default": VAULT_TOKEN,
        }[scopes[0]]
        return AccessToken(token, 4_102_444_800)


@pytest.fixture
def arm() -> Iterator[ArmSandbox]:
    """Resource Manager."""
    with ArmSandbox() as sandbox:
        yield sandbox


@pytest.fixture
def vault() -> Iterator[KeyVaultSandbox]:
    """The app's Key Vault."""
    with KeyVaultSandbox() as sandbox:
        yield sandbox


def app_settings(
    azurite: Azurite, lucca: LuccaSandbox, graph: GraphSandbox, vault: KeyVaultSandbox
) -> dict[str, str]:
    """The settings as the Bicep writes them: the two Lucca secrets as Key Vault references
    (VaultName form and SecretUri form), the rest in clear."""
    settings = sandbox_settings(azurite.connection_string, lucca, graph)
    client_secret = settings.pop("LUCCA_CLIENT_SECRET")
    webhook_secret = settings.pop("LUCCA_WEBHOOK_SECRET")
    vault.set_secret("lucca-client-secret", client_secret)
    version = vault.set_secret("lucca-webhook-secret", webhook_secret)
    return settings | {
        "FUNCTIONS_EXTENSION_VERSION": "~4",
        "LUCCA_CLIENT_SECRET": (
            "@Microsoft.KeyVault(VaultName=kv-acme;SecretName=lucca-client-secret)"
        ),
        "LUCCA_WEBHOOK_SECRET": (
            f"@Microsoft.KeyVault(SecretUri={vault.base_url}/secrets/lucca-webhook-secret/{version})"
        ),
    }


def access(
    arm: ArmSandbox, vault: KeyVaultSandbox, login: OperatorLogin | None = None
) -> AzureAccess:
    """The sandboxes' addresses, and the operator's login."""
    return AzureAccess(
        credential=login or OperatorLogin(), arm_url=arm.base_url, vault_url=vault.base_url
    )


def run(
    azure: AzureAccess, *argv: str, environ: dict[str, str] | None = None
) -> tuple[int, str, str]:
    """`python -m connector …` in-process with nothing in the environment but `environ`."""
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), environ=environ or {}, out=out, err=err, azure=azure)
    return code, out.getvalue(), err.getvalue()


def test_reconcile_runs_on_the_apps_settings_with_its_secrets_from_key_vault(
    azurite: Azurite,
    storage: Storage,
    lucca: LuccaSandbox,
    graph: GraphSandbox,
    arm: ArmSandbox,
    vault: KeyVaultSandbox,
) -> None:
    """Nothing in the environment: the app is found among the subscriptions, its settings
    listed, both references resolved with the operator's vault token; Lucca accepts the
    client secret read from the vault."""
    arm.add_site("func-other", {})
    arm.add_site(APP, app_settings(azurite, lucca, graph, vault))
    lucca.add_employee("Alice", "Martin", "alice.martin@acme.fr")

    code, out, err = run(access(arm, vault), "--from-azure", APP, "reconcile")

    assert code == 0, err
    assert "To create: 1" in out
    assert [(r.method, r.path.rsplit("/", 3)[-3:]) for r in arm.requests][-1] == (
        "POST",
        ["config", "appsettings", "list"],
    )
    assert sorted(r.path for r in vault.requests) == [
        "/secrets/lucca-client-secret",
        f"/secrets/lucca-webhook-secret/{vault.secrets['lucca-webhook-secret'][0][0]}",
    ]
    assert all(r.param("api-version") == "7.4" for r in vault.requests)


def test_the_environment_overrides_the_apps_settings(
    azurite: Azurite,
    storage: Storage,
    lucca: LuccaSandbox,
    graph: GraphSandbox,
    arm: ArmSandbox,
    vault: KeyVaultSandbox,
) -> None:
    """A setting in the environment wins: its Key Vault reference is not even read."""
    site = arm.add_site(APP, app_settings(azurite, lucca, graph, vault))

    code, _, err = run(
        access(arm, vault),
        "reconcile",
        "--from-azure",
        APP,
        "--subscription",
        site.subscription,
        "--resource-group",
        site.resource_group,
        environ={"LUCCA_CLIENT_SECRET": "lucca-client-secret"},
    )

    assert code == 0, err
    assert [r.path for r in vault.requests] == [
        f"/secrets/lucca-webhook-secret/{vault.secrets['lucca-webhook-secret'][0][0]}"
    ]
    assert not any(r.path == "/subscriptions" for r in arm.requests)  # no search needed


def test_logs_from_azure_needs_no_secret_at_all(
    azurite: Azurite, storage: Storage, arm: ArmSandbox, vault: KeyVaultSandbox
) -> None:
    """`logs` reads only storage's settings: the vault is never asked."""
    arm.add_site(
        APP,
        {
            "AzureWebJobsStorage": azurite.connection_string,
            "LUCCA_CLIENT_SECRET": "@Microsoft.KeyVault(VaultName=kv;SecretName=x)",
        },
    )
    vault.readable = False

    code, out, err = run(access(arm, vault), "logs", "--from-azure", APP)

    assert (code, err) == (0, "")
    assert "No entries since" in out
    assert vault.requests == []


def test_a_reader_who_may_not_list_the_settings_is_told_which_role(
    arm: ArmSandbox, vault: KeyVaultSandbox
) -> None:
    """ARM's 403 AuthorizationFailed: exit 4, the role to ask for."""
    arm.add_site(APP, {"AzureWebJobsStorage": "UseDevelopmentStorage=true"})
    arm.can_list_settings = False

    code, out, err = run(access(arm, vault), "--from-azure", APP, "logs")

    assert (code, out) == (4, "")
    assert "AuthorizationFailed" in err
    assert "Microsoft.Web/sites/config/list/action" in err
    assert "Website Contributor" in err


def test_a_secret_the_operator_may_not_read_names_the_setting_and_the_role(
    azurite: Azurite,
    lucca: LuccaSandbox,
    graph: GraphSandbox,
    arm: ArmSandbox,
    vault: KeyVaultSandbox,
) -> None:
    """Key Vault's 403 ForbiddenByRbac on a secret: exit 4 naming the setting and the role,
    never a value; not reported as the app's identity's problem."""
    arm.add_site(APP, app_settings(azurite, lucca, graph, vault))
    vault.readable = False

    code, _, err = run(access(arm, vault), "--from-azure", APP, "reconcile")

    assert code == 4
    assert "setting LUCCA_CLIENT_SECRET" in err
    assert "'Key Vault Secrets User'" in err
    assert "Function App's identity" not in err
    assert "lucca-client-secret" not in err.replace("/secrets/lucca-client-secret", "")


def test_not_signed_in_says_az_login(arm: ArmSandbox, vault: KeyVaultSandbox) -> None:
    """No Azure CLI login: exit 4, "run `az login`", nothing sent to ARM."""
    arm.add_site(APP, {})

    code, _, err = run(
        access(arm, vault, OperatorLogin(signed_in=False)), "--from-azure", APP, "logs"
    )

    assert code == 4
    assert "run `az login`" in err
    assert arm.requests == []


def test_two_apps_of_one_name_need_the_subscription(
    azurite: Azurite, storage: Storage, arm: ArmSandbox, vault: KeyVaultSandbox
) -> None:
    """The name in two subscriptions: exit 4 asking for --subscription; with it, it runs."""
    arm.add_site(APP, {"AzureWebJobsStorage": "UseDevelopmentStorage=true"})
    site = arm.add_site(APP, {"AzureWebJobsStorage": azurite.connection_string})

    code, _, err = run(access(arm, vault), "--from-azure", APP, "logs")
    assert code == 4
    assert "2 apps are named func-lucca-acme: give --subscription" in err

    code, _, err = run(
        access(arm, vault), "--from-azure", APP, "--subscription", site.subscription, "logs"
    )
    assert (code, err) == (0, "")


def test_a_missing_app_is_named(arm: ArmSandbox, vault: KeyVaultSandbox) -> None:
    """No app of that name: exit 4 with the name and how many subscriptions were searched."""
    arm.add_site("func-other", {})

    code, _, err = run(access(arm, vault), "--from-azure", APP, "logs")

    assert code == 4
    assert f"no function app named {APP} in the 1 subscription(s)" in err


def test_a_reference_to_another_address_is_not_followed(
    azurite: Azurite, arm: ArmSandbox, vault: KeyVaultSandbox
) -> None:
    """A SecretUri outside Key Vault: refused, and the operator's vault token goes nowhere."""
    with ArmSandbox() as elsewhere:
        arm.add_site(
            APP,
            {
                "AzureWebJobsStorage": azurite.connection_string,
                "LUCCA_BASE_URL": "https://acme.ilucca.net",
                "LUCCA_CLIENT_ID": "connector",
                "LUCCA_WEBHOOK_SECRET": "whsec",
                "LUCCA_CLIENT_SECRET": (
                    f"@Microsoft.KeyVault(SecretUri={elsewhere.base_url}/secrets/x/)"
                ),
            },
        )

        code, _, err = run(access(arm, vault), "--from-azure", APP, "sync", "416")

        assert code == 4
        assert "setting LUCCA_CLIENT_SECRET: its Key Vault reference does not point" in err
        assert elsewhere.requests == []


@pytest.mark.parametrize(
    ("reference", "address"),
    [
        (
            "@Microsoft.KeyVault(SecretUri=https://kv-acme.vault.azure.net/secrets/s/)",
            "https://kv-acme.vault.azure.net/secrets/s",
        ),
        (
            "@Microsoft.KeyVault(SecretUri=https://kv-acme.vault.azure.net/secrets/s/0a1b)",
            "https://kv-acme.vault.azure.net/secrets/s/0a1b",
        ),
        (
            "@Microsoft.KeyVault(VaultName=kv-acme;SecretName=lucca-client-secret)",
            "https://kv-acme.vault.azure.net/secrets/lucca-client-secret",
        ),
        (
            " @microsoft.keyvault(vaultname=kv-acme; secretname=s; secretversion=0a1b) ",
            "https://kv-acme.vault.azure.net/secrets/s/0a1b",
        ),
    ],
)
def test_both_reference_forms_name_the_secret(reference: str, address: str) -> None:
    """App Service's two forms, any case, with or without a version."""
    assert reference_address(reference) == address


@pytest.mark.parametrize(
    "reference", ["@Microsoft.KeyVault(VaultName=kv-acme)", "plain value", "@Microsoft.KeyVault()"]
)
def test_a_malformed_reference_is_refused(reference: str) -> None:
    """Not a reference, or missing the secret's name."""
    with pytest.raises(ValueError, match=r"."):
        reference_address(reference)
