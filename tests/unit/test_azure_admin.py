"""The setup's REST clients for Key Vault and Resource Manager: the operator's token for the
right audience on https, the answers' documented shapes, errors that say what to do and never
carry a secret. The HTTP client is injected (an httpx transport answering like the service)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from azure.core.credentials import AccessToken
from azure.core.exceptions import ClientAuthenticationError

from connector.runtime.azure_admin import (
    ARM_SCOPE,
    VAULT_SCOPE,
    AzureAdminError,
    FunctionApp,
    KeyVaultSecrets,
)

SITE = "/subscriptions/sub-1/resourceGroups/rg-1/providers/Microsoft.Web/sites/app-1"


class Token:
    def __init__(self) -> None:
        self.scopes: list[tuple[str, ...]] = []

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        self.scopes.append(scopes)
        return AccessToken("operator-token", 4_102_444_800)


def client(
    answer: Callable[[httpx.Request], httpx.Response],
) -> tuple[httpx.Client, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return answer(request)

    return httpx.Client(transport=httpx.MockTransport(handler)), seen


def test_key_vault_with_the_operator_s_token_for_the_vault_audience() -> None:
    """GET and PUT /secrets/{name}?api-version=7.4 with a bearer token for vault.azure.net;
    404 SecretNotFound is "no secret"."""
    store: dict[str, str] = {}

    def answer(request: httpx.Request) -> httpx.Response:
        name = request.url.path.rsplit("/", 1)[-1]
        if request.method == "PUT":
            body = json.loads(request.content)
            assert body == {"value": "s3cret", "tags": {"lucca-endpoint": "301"}}
            store[name] = body["value"]
            return httpx.Response(200, json={"value": store[name], "id": "x"})
        if name not in store:
            return httpx.Response(
                404,
                json={
                    "error": {
                        "code": "SecretNotFound",
                        "message": "A secret with (name/id) x was not found",
                    }
                },
            )
        return httpx.Response(200, json={"value": store[name], "id": "x"})

    http, seen = client(answer)
    token = Token()
    vault = KeyVaultSecrets("https://kv-1.vault.azure.net", token, http)
    assert vault.get("lucca-client-secret") is None
    vault.set("lucca-client-secret", "s3cret", {"lucca-endpoint": "301"})
    stored = vault.get("lucca-client-secret")
    assert stored is not None and stored.value == "s3cret"
    assert "s3cret" not in repr(stored)
    assert {r.url.params["api-version"] for r in seen} == {"7.4"}
    assert all(r.headers["Authorization"] == "Bearer operator-token" for r in seen)
    assert set(token.scopes) == {(VAULT_SCOPE,)}
    assert (
        str(seen[1].url)
        == "https://kv-1.vault.azure.net/secrets/lucca-client-secret?api-version=7.4"
    )


def test_a_refused_vault_names_the_role_and_not_the_value() -> None:
    forbidden = {
        "error": {"code": "Forbidden", "message": "Caller is not authorized to perform action"}
    }
    http, _ = client(lambda request: httpx.Response(403, json=forbidden))
    vault = KeyVaultSecrets("https://kv-1.vault.azure.net", Token(), http)
    with pytest.raises(AzureAdminError) as raised:
        vault.set("lucca-webhook-secret", "value-never-shown")
    assert "403 Forbidden" in raised.value.message
    assert "Key Vault Secrets Officer" in raised.value.message
    assert "value-never-shown" not in str(raised.value)


@pytest.mark.parametrize(
    "document",
    [
        {"default": "k-default", "lucca": "k-lucca"},  # what the service answers
        {"id": None, "name": None, "properties": {"default": "k-default", "lucca": "k-lucca"}},
    ],
    ids=["flat", "string-dictionary"],
)
def test_function_keys_read_either_documented_shape(document: dict[str, Any]) -> None:
    """POST …/functions/{fn}/listkeys with a token for Resource Manager."""
    http, seen = client(lambda request: httpx.Response(200, json=document))
    token = Token()
    app = FunctionApp(
        subscription="sub-1", resource_group="rg-1", app="app-1", credential=token, http=http
    )
    assert app.function_keys("lucca_webhook") == {"default": "k-default", "lucca": "k-lucca"}
    [request] = seen
    assert request.method == "POST"
    assert request.url.path == f"{SITE}/functions/lucca_webhook/listkeys"
    assert request.url.host == "management.azure.com"
    assert token.scopes == [(ARM_SCOPE,)]


def test_a_function_not_deployed_yet_has_no_keys_and_a_key_is_put_by_name() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/listkeys"):
            return httpx.Response(
                404, json={"error": {"code": "NotFound", "message": "Error retrieving function"}}
            )
        return httpx.Response(201, json=json.loads(request.content))

    http, seen = client(answer)
    app = FunctionApp(
        subscription="sub-1", resource_group="rg-1", app="app-1", credential=Token(), http=http
    )
    assert app.function_keys("lucca_webhook") is None
    app.set_function_key("lucca_webhook", "lucca", "k-new")
    assert seen[1].method == "PUT"
    assert seen[1].url.path == f"{SITE}/functions/lucca_webhook/keys/lucca"
    assert json.loads(seen[1].content) == {"name": "lucca", "value": "k-new"}


def test_app_settings_are_written_back_whole_with_the_change() -> None:
    """PUT …/config/appsettings replaces every setting: what was read goes back with it."""
    current = {"LUCCA_BASE_URL": "https://acme.ilucca.net", "LUCCA_WEBHOOK_ENDPOINT_ID": ""}

    def answer(request: httpx.Request) -> httpx.Response:
        if request.method == "PUT":
            current.clear()
            current.update(json.loads(request.content)["properties"])
        return httpx.Response(200, json={"name": "appsettings", "properties": dict(current)})

    http, _ = client(answer)
    app = FunctionApp(
        subscription="sub-1", resource_group="rg-1", app="app-1", credential=Token(), http=http
    )
    app.update_app_settings({"LUCCA_WEBHOOK_ENDPOINT_ID": "301"})
    assert current == {
        "LUCCA_BASE_URL": "https://acme.ilucca.net",
        "LUCCA_WEBHOOK_ENDPOINT_ID": "301",
    }


def test_https_needs_a_credential_and_http_only_on_loopback() -> None:
    with pytest.raises(ValueError, match="credential"):
        KeyVaultSecrets("https://kv-1.vault.azure.net")
    with pytest.raises(ValueError, match="https"):
        KeyVaultSecrets("http://kv-1.vault.azure.net", Token())
    KeyVaultSecrets("http://127.0.0.1:9").close()  # a sandbox: no token


def test_a_vault_refusing_while_the_role_spreads_is_asked_again() -> None:
    """403 right after provisioning: tried again (with a word to the operator) until it works."""
    answers = [403, 403, 200]

    def answer(request: httpx.Request) -> httpx.Response:
        status = answers.pop(0)
        return httpx.Response(
            status, json={"value": "v"} if status == 200 else {"error": {"code": "Forbidden"}}
        )

    http, seen = client(answer)
    said: list[str] = []
    vault = KeyVaultSecrets(
        "https://kv-1.vault.azure.net", Token(), http, patience=60, pause=0, on_wait=said.append
    )
    stored = vault.get("lucca-client-secret")
    assert stored is not None and stored.value == "v"
    assert len(seen) == 3 and len(said) == 2 and "role assignment" in said[0]


class NoSignIn:
    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        raise ClientAuthenticationError("ChainedTokenCredential failed to retrieve a token.\nmore")


def test_no_sign_in_says_how_to_sign_in() -> None:
    """Neither azd nor the Azure CLI signed in: an error saying what to run, no traceback."""
    http, seen = client(lambda request: httpx.Response(200, json={}))
    vault = KeyVaultSecrets("https://kv-1.vault.azure.net", NoSignIn(), http)
    with pytest.raises(AzureAdminError, match="azd auth login"):
        vault.get("lucca-client-secret")
    assert seen == []
