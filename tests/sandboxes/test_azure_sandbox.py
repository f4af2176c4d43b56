"""The ARM and Key Vault sandboxes, and the Graph sandbox's service principals, answer as the
real services do for what `--from-azure` and `doctor` read: over loopback HTTP with httpx."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.sandboxes.azure import ARM_TOKEN, VAULT_TOKEN, ArmSandbox, KeyVaultSandbox
from tests.sandboxes.graph import GraphSandbox
from tests.sandboxes.graph_principals import GRAPH_APP_ID, GRAPH_APP_ROLES

ARM = {"Authorization": f"Bearer {ARM_TOKEN}"}
VAULT = {"Authorization": f"Bearer {VAULT_TOKEN}"}


@pytest.fixture
def arm() -> Iterator[ArmSandbox]:
    with ArmSandbox() as sandbox:
        yield sandbox


@pytest.fixture
def vault() -> Iterator[KeyVaultSandbox]:
    with KeyVaultSandbox() as sandbox:
        yield sandbox


def test_arm_lists_settings_of_a_site_and_refuses_as_arm_does(arm: ArmSandbox) -> None:
    """The settings under `properties`; 401 without ARM's token (a vault token is another
    audience), 400 without api-version, 403 for a Reader, 404 for an unknown group."""
    site = arm.add_site("func-a", {"LUCCA_BASE_URL": "https://acme.ilucca.net"})
    url = f"{arm.base_url}{site.id}/config/appsettings/list"
    version = {"api-version": "2024-04-01"}

    listed = httpx.post(url, params=version, headers=ARM)
    assert listed.status_code == 200
    assert listed.json()["properties"] == {"LUCCA_BASE_URL": "https://acme.ilucca.net"}
    wrong = httpx.post(url, params=version, headers=VAULT)
    assert (wrong.status_code, wrong.json()["error"]["code"]) == (401, "InvalidAuthenticationToken")
    missing = httpx.post(url, headers=ARM)
    assert missing.json()["error"]["code"] == "MissingApiVersionParameter"
    arm.can_list_settings = False
    denied = httpx.post(url, params=version, headers=ARM)
    assert (denied.status_code, denied.json()["error"]["code"]) == (403, "AuthorizationFailed")
    gone = httpx.post(url.replace("rg-connector", "rg-nope"), params=version, headers=ARM)
    assert (gone.status_code, gone.json()["error"]["code"]) == (404, "ResourceGroupNotFound")


def test_arm_lists_subscriptions_and_their_sites(arm: ArmSandbox) -> None:
    """`GET /subscriptions` then each subscription's `Microsoft.Web/sites`, with ids."""
    site = arm.add_site("func-a", {})
    version = {"api-version": "2022-12-01"}

    subscriptions = httpx.get(f"{arm.base_url}/subscriptions", params=version, headers=ARM)
    sites = httpx.get(
        f"{arm.base_url}/subscriptions/{site.subscription}/providers/Microsoft.Web/sites",
        params=version,
        headers=ARM,
    )

    assert [s["subscriptionId"] for s in subscriptions.json()["value"]] == [site.subscription]
    assert [(s["name"], s["id"]) for s in sites.json()["value"]] == [("func-a", site.id)]


def test_key_vault_answers_the_latest_or_a_version_and_its_errors(vault: KeyVaultSandbox) -> None:
    """Latest without a version; 401 with a challenge without the vault's token; 404
    SecretNotFound; 403 ForbiddenByRbac without the role."""
    first = vault.set_secret("lucca-client-secret", "one")
    vault.set_secret("lucca-client-secret", "two")
    params = {"api-version": "7.4"}
    base = f"{vault.base_url}/secrets/lucca-client-secret"

    assert httpx.get(base, params=params, headers=VAULT).json()["value"] == "two"
    assert httpx.get(f"{base}/{first}", params=params, headers=VAULT).json()["value"] == "one"
    anonymous = httpx.get(base, params=params)
    assert anonymous.status_code == 401
    assert 'resource="https://vault.azure.net"' in anonymous.headers["WWW-Authenticate"]
    unknown = httpx.get(f"{vault.base_url}/secrets/nope", params=params, headers=VAULT)
    assert (unknown.status_code, unknown.json()["error"]["code"]) == (404, "SecretNotFound")
    vault.readable = False
    denied = httpx.get(base, params=params, headers=VAULT).json()["error"]
    assert (denied["code"], denied["innererror"]["code"]) == ("Forbidden", "ForbiddenByRbac")


def test_graph_serves_service_principals_and_their_app_role_assignments() -> None:
    """By appId with `$select`; an identity's grants point at Graph's service principal and
    name its app role ids; an unknown id is 404 Request_ResourceNotFound."""
    with GraphSandbox() as graph:
        identity = graph.add_managed_identity(roles=("User.Read.All",))
        base = f"{graph.base_url}/v1.0/servicePrincipals"

        found = httpx.get(base, params={"$filter": f"appId eq '{GRAPH_APP_ID}'"}).json()
        [microsoft_graph] = found["value"]
        mine = httpx.get(
            base, params={"$filter": f"appId eq '{identity['appId']}'", "$select": "id,appId"}
        ).json()["value"]
        grants = httpx.get(f"{base}/{identity['id']}/appRoleAssignments").json()["value"]
        unknown = httpx.get(f"{base}/00000000-0000-0000-0000-000000000000/appRoleAssignments")

    assert mine == [{"id": identity["id"], "appId": identity["appId"]}]
    assert [(g["appRoleId"], g["resourceId"]) for g in grants] == [
        (GRAPH_APP_ROLES["User.Read.All"], microsoft_graph["id"])
    ]
    roles = {r["id"]: r["value"] for r in microsoft_graph["appRoles"]}
    assert roles[GRAPH_APP_ROLES["User.Read.All"]] == "User.Read.All"
    assert (unknown.status_code, unknown.json()["error"]["code"]) == (
        404,
        "Request_ResourceNotFound",
    )
