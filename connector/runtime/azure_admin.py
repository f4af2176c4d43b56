"""The operator's side of Azure the setup needs, over REST with the operator's own token: Key Vault
secrets, the webhook function's keys and the app's settings (Azure Resource Manager).

- Key Vault: `GET|PUT {vault}/secrets/{name}?api-version=7.4`
  (https://learn.microsoft.com/rest/api/keyvault/secrets/get-secret/get-secret).
- A function's keys: `POST .../sites/{app}/functions/{fn}/listkeys` and
  `PUT .../sites/{app}/functions/{fn}/keys/{name}` with `{"name", "value"}`
  (https://learn.microsoft.com/rest/api/appservice/web-apps/create-or-update-function-secret):
  a key of that one function, never a host key or the master key.
- App settings: `POST .../sites/{app}/config/appsettings/list`, `PUT .../config/appsettings`
  (the whole set: what is read is written back with the changes).

No SDK: the deployed app needs none of this, and httpx is already there. A loopback `http://`
address (a test sandbox) takes no token. Errors are `AzureAdminError`, whose message never holds
a secret, a key or a token.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

import httpx
from azure.core.exceptions import ClientAuthenticationError

from connector.core.net import is_loopback

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential

KEY_VAULT_API = "7.4"
WEB_API = "2024-04-01"
ARM_URL = "https://management.azure.com"
ARM_SCOPE = "https://management.azure.com/.default"
VAULT_SCOPE = "https://vault.azure.net/.default"
TIMEOUT = httpx.Timeout(30.0)
VAULT_ROLE = (
    "you need the 'Key Vault Secrets Officer' role on the vault: the template grants it to "
    "AZURE_PRINCIPAL_ID, the person who ran azd"
)
APP_ROLE = "you need Contributor (or Website Contributor) on the Function App"


class AzureAdminError(Exception):
    """Azure refused or could not be reached; the message says which call and why."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


def operator_credential() -> TokenCredential:
    """The person's (or pipeline's) own sign-in: azd's, else the Azure CLI's."""
    from azure.identity import (  # noqa: PLC0415 (only the setup pays for it)
        AzureCliCredential,
        AzureDeveloperCliCredential,
        ChainedTokenCredential,
    )

    return ChainedTokenCredential(AzureDeveloperCliCredential(), AzureCliCredential())


class _Rest:
    """One httpx client, with a bearer token for `scope` unless the address is a loopback one."""

    def __init__(
        self,
        base_url: str,
        scope: str,
        credential: TokenCredential | None,
        http: httpx.Client | None,
    ) -> None:
        parts = urlsplit(base_url)
        anonymous = parts.scheme == "http" and is_loopback(parts.hostname or "")
        if parts.scheme != "https" and not anonymous:
            raise ValueError("must be an https:// address (http:// only on loopback)")
        if credential is None and not anonymous:
            raise ValueError("a credential is needed for an https:// address")
        self._base = base_url.rstrip("/")
        self._scope = scope
        self._credential = None if anonymous else credential
        self._http = http if http is not None else httpx.Client(timeout=TIMEOUT)

    def close(self) -> None:
        """Close the HTTP client."""
        self._http.close()

    def send(self, method: str, path: str, api: str, body: Any = None) -> httpx.Response:
        """Send one request; the answer, or `AzureAdminError` when it could not be sent."""
        headers = {"Accept": "application/json"}
        if self._credential is not None:
            try:
                token = self._credential.get_token(self._scope).token
            except ClientAuthenticationError as err:
                first = str(err.message or "").split("\n")[0][:200]
                raise AzureAdminError(
                    f"no Azure sign-in to use ({first}): run `azd auth login` (or `az login`)"
                ) from None
            headers["Authorization"] = f"Bearer {token}"
        try:
            return self._http.request(
                method, f"{self._base}{path}", params={"api-version": api}, json=body,
                headers=headers,
            )  # fmt: skip
        except httpx.HTTPError as err:
            raise AzureAdminError(
                f"{method} {path.split('?', maxsplit=1)[0]}: {type(err).__name__}: not reached"
            ) from None


def _refused(what: str, response: httpx.Response, denied: str = "") -> AzureAdminError:
    """The error of an answer that is not a success: Azure's error code and message, and on a
    403 what the operator needs (`denied`)."""
    try:
        error = response.json().get("error") or {}
    except ValueError:
        error = {}
    code = error.get("code") or response.reason_phrase
    said = str(error.get("message") or "").split("\n")[0][:300]
    if response.status_code == httpx.codes.FORBIDDEN and denied:
        said = f"{said} ({denied})".strip()
    return AzureAdminError(
        f"{what}: {response.status_code} {code} {said}".strip(), status=response.status_code
    )


@dataclass(frozen=True, kw_only=True)
class StoredSecret:
    """A secret's current version: its value and its tags."""

    value: str
    tags: dict[str, str] = field(default_factory=dict)

    def __repr__(self) -> str:
        return f"StoredSecret(value=***, tags={self.tags!r})"


class KeyVaultSecrets:
    """The secrets of one Key Vault (the operator needs "Key Vault Secrets Officer").

    Right after `azd provision` grants that role, the vault refuses (403) for a few minutes
    while the assignment spreads: a 403 is tried again every `pause` seconds for `patience`
    seconds (`on_wait` hears of each wait)."""

    def __init__(
        self,
        vault_url: str,
        credential: TokenCredential | None = None,
        http: httpx.Client | None = None,
        *,
        patience: float = 0.0,
        pause: float = 15.0,
        on_wait: Callable[[str], object] | None = None,
    ) -> None:
        self._rest = _Rest(vault_url, VAULT_SCOPE, credential, http)
        self._patience, self._pause, self._on_wait = patience, pause, on_wait

    def _send(self, method: str, path: str, body: Any = None) -> httpx.Response:
        deadline = time.monotonic() + self._patience
        while True:
            response = self._rest.send(method, path, KEY_VAULT_API, body)
            if response.status_code != httpx.codes.FORBIDDEN or time.monotonic() >= deadline:
                return response
            if self._on_wait is not None:
                self._on_wait("Key Vault refuses for now (403): waiting for the role assignment")
            time.sleep(self._pause)

    def close(self) -> None:
        """Close the HTTP client."""
        self._rest.close()

    def get(self, name: str) -> StoredSecret | None:
        """The secret's current version; None when the vault has no such secret."""
        response = self._send("GET", f"/secrets/{quote(name, safe='')}")
        if response.status_code == httpx.codes.NOT_FOUND:
            return None
        if response.status_code != httpx.codes.OK:
            raise _refused(f"Key Vault: reading secret {name}", response, VAULT_ROLE)
        document = response.json()
        value, tags = document.get("value"), document.get("tags") or {}
        if not isinstance(value, str):
            return None
        return StoredSecret(value=value, tags={k: str(v) for k, v in tags.items()})

    def set(self, name: str, value: str, tags: Mapping[str, str] | None = None) -> None:
        """Store a new version of the secret (with `tags`, Key Vault's own labels)."""
        path = f"/secrets/{quote(name, safe='')}"
        body: dict[str, Any] = {"value": value}
        if tags:
            body["tags"] = dict(tags)
        response = self._send("PUT", path, body)
        if response.status_code != httpx.codes.OK:
            raise _refused(f"Key Vault: storing secret {name}", response, VAULT_ROLE)


class FunctionApp:
    """One Function App through Azure Resource Manager: a function's keys, the app settings."""

    def __init__(
        self,
        *,
        subscription: str,
        resource_group: str,
        app: str,
        credential: TokenCredential | None = None,
        arm_url: str = ARM_URL,
        http: httpx.Client | None = None,
    ) -> None:
        self._rest = _Rest(arm_url, ARM_SCOPE, credential, http)
        self._site = (
            f"/subscriptions/{quote(subscription, safe='')}/resourceGroups/"
            f"{quote(resource_group, safe='')}/providers/Microsoft.Web/sites/{quote(app, safe='')}"
        )

    def close(self) -> None:
        """Close the HTTP client."""
        self._rest.close()

    def function_keys(self, function: str) -> dict[str, str] | None:
        """The function's own keys by name; None while the function is not deployed."""
        path = f"{self._site}/functions/{quote(function, safe='')}/listkeys"
        response = self._rest.send("POST", path, WEB_API)
        if response.status_code == httpx.codes.NOT_FOUND:
            return None
        if response.status_code != httpx.codes.OK:
            raise _refused(f"Azure: listing the keys of function {function}", response, APP_ROLE)
        document = response.json()
        # Documented as a StringDictionary (keys under `properties`); the service answers
        # with the keys at the top level: read either.
        keys = (
            document.get("properties") if isinstance(document.get("properties"), dict) else document
        )
        return {k: v for k, v in keys.items() if isinstance(v, str)}

    def set_function_key(self, function: str, name: str, value: str) -> None:
        """Create (or set) the function key `name` of that one function."""
        path = f"{self._site}/functions/{quote(function, safe='')}/keys/{quote(name, safe='')}"
        response = self._rest.send("PUT", path, WEB_API, {"name": name, "value": value})
        if response.status_code not in (httpx.codes.OK, httpx.codes.CREATED):
            raise _refused(f"Azure: creating key {name} of function {function}", response, APP_ROLE)

    def app_settings(self) -> dict[str, str]:
        """The app settings as Azure holds them (Key Vault references unresolved)."""
        response = self._rest.send("POST", f"{self._site}/config/appsettings/list", WEB_API)
        if response.status_code != httpx.codes.OK:
            raise _refused("Azure: reading the app settings", response, APP_ROLE)
        properties = response.json().get("properties") or {}
        return {k: str(v) for k, v in properties.items()}

    def update_app_settings(self, changes: Mapping[str, str]) -> None:
        """Write the settings back with `changes` (which restarts the app)."""
        properties = self.app_settings() | dict(changes)
        path = f"{self._site}/config/appsettings"
        response = self._rest.send("PUT", path, WEB_API, {"properties": properties})
        if response.status_code != httpx.codes.OK:
            raise _refused("Azure: writing the app settings", response, APP_ROLE)
