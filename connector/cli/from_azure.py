"""`--from-azure APP`: the function app's settings, read through Azure Resource Manager with the
operator's own sign-in (`az login`), and their Key Vault references resolved with it too.

ARM: `POST {site}/config/appsettings/list` (Web Apps - List Application Settings) answers the
values as stored, Key Vault references unresolved. A reference is resolved as App Service does,
from its two documented forms, `@Microsoft.KeyVault(SecretUri=https://v.vault.azure.net/secrets/
name/version)` and `@Microsoft.KeyVault(VaultName=v;SecretName=name[;SecretVersion=…])`
(https://learn.microsoft.com/azure/app-service/app-service-key-vault-references), with
`GET {vault}/secrets/{name}/{version}?api-version=7.4`; only for the settings the connector
reads, and only from a Key Vault address, so the operator's vault token goes nowhere else.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

import httpx

from connector.core.net import is_loopback
from connector.runtime.settings import setting_names

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential

ARM_URL = "https://management.azure.com"
ARM_SCOPE = "https://management.azure.com/.default"
VAULT_SCOPE = "https://vault.azure.net/.default"
WEB_API_VERSION = "2024-04-01"
SUBSCRIPTIONS_API_VERSION = "2022-12-01"
VAULT_API_VERSION = "7.4"
# Key Vault's DNS suffixes: the public cloud, China, US Government.
VAULT_SUFFIXES = (".vault.azure.net", ".vault.azure.cn", ".vault.usgovcloudapi.net")
_REFERENCE = re.compile(r"^\s*@Microsoft\.KeyVault\((?P<inner>.*)\)\s*$", re.IGNORECASE | re.DOTALL)
READ_ROLE = (
    "a role allowing Microsoft.Web/sites/config/list/action on the app (Website Contributor, "
    "or Contributor)"
)


class AzureReadError(Exception):
    """The app's settings could not be read from Azure; the message says why, never a value."""


@dataclass(frozen=True, kw_only=True)
class AzureAccess:
    """How `--from-azure` reaches Azure: the operator's credential (None: the Azure CLI's
    login, made on first use), Resource Manager's address and the vaults' (`{vault}`)."""

    credential: TokenCredential | None = None
    arm_url: str = ARM_URL
    vault_url: str = "https://{vault}.vault.azure.net"
    timeout: float = 30.0
    _made: list[TokenCredential] = field(default_factory=list, repr=False)

    def token(self, scope: str) -> str:
        """A bearer token for `scope`, from the operator's sign-in."""
        from azure.core.exceptions import ClientAuthenticationError  # noqa: PLC0415

        credential = self.credential
        if credential is None:
            if not self._made:
                from azure.identity import AzureCliCredential  # noqa: PLC0415

                self._made.append(AzureCliCredential())
            credential = self._made[0]
        try:
            return credential.get_token(scope).token
        except ClientAuthenticationError:
            raise AzureReadError(
                "no Azure sign-in to read the app's settings with: run `az login` (with "
                "`--tenant` for the app's tenant), then try again"
            ) from None


@dataclass(frozen=True, kw_only=True)
class AppLocation:
    """Which function app: its name, and where to look when the name is not enough."""

    name: str
    resource_group: str | None = None
    subscription: str | None = None


def read_app_settings(access: AzureAccess, where: AppLocation) -> dict[str, str]:
    """The app's settings as stored (Key Vault references unresolved)."""
    with httpx.Client(timeout=access.timeout) as http:
        arm = _Arm(http, access)
        site_id = arm.find_site(where)
        listed = arm.call("POST", f"{site_id}/config/appsettings/list", WEB_API_VERSION)
    properties = listed.get("properties")
    if not isinstance(properties, dict):
        raise AzureReadError("Azure answered the app's settings without their values")
    return {str(k): "" if v is None else str(v) for k, v in properties.items()}


def resolve_references(
    access: AzureAccess, values: Mapping[str, str], names: Iterable[str]
) -> dict[str, str]:
    """The Key Vault references among `names` (settings the connector reads) resolved: a
    command reading storage only never asks the vault."""
    wanted = set(names) & setting_names()
    resolved = dict(values)
    references = [n for n in sorted(wanted) if _REFERENCE.match(values.get(n, ""))]
    if references:
        with httpx.Client(timeout=access.timeout) as http:
            vault = _Vault(http, access)
            for name in references:
                resolved[name] = vault.secret(name, values[name])
    return resolved


def reference_address(value: str, vault_url: str = "https://{vault}.vault.azure.net") -> str:
    """The secret's address a Key Vault reference names (without api-version); `ValueError`
    when it is not one of the two documented forms."""
    match = _REFERENCE.match(value)
    if match is None:
        raise ValueError("not a Key Vault reference")
    inner = match.group("inner").strip()
    if inner.lower().startswith("secreturi="):
        return inner.partition("=")[2].strip().rstrip("/")
    parts: dict[str, str] = {}
    for part in inner.split(";"):
        key, sep, item = part.partition("=")
        if sep and item.strip():
            parts[key.strip().lower()] = item.strip()
    if "vaultname" not in parts or "secretname" not in parts:
        raise ValueError("names neither SecretUri nor VaultName and SecretName")
    base = vault_url.format(vault=quote(parts["vaultname"], safe=""))
    address = f"{base.rstrip('/')}/secrets/{quote(parts['secretname'], safe='')}"
    version = parts.get("secretversion")
    return f"{address}/{quote(version, safe='')}" if version else address


class _Arm:
    """Resource Manager's calls and its errors, translated once."""

    def __init__(self, http: httpx.Client, access: AzureAccess) -> None:
        self._http = http
        self._access = access
        self._base = access.arm_url.rstrip("/")

    def find_site(self, where: AppLocation) -> str:
        """The app's resource id: direct with a subscription and a resource group, else found
        among the sites of the subscriptions the operator can see."""
        if where.subscription and where.resource_group:
            return (
                f"/subscriptions/{quote(where.subscription, safe='')}/resourceGroups/"
                f"{quote(where.resource_group, safe='')}/providers/Microsoft.Web/sites/"
                f"{quote(where.name, safe='')}"
            )
        subscriptions = [where.subscription] if where.subscription else self._subscriptions()
        found = [
            site_id
            for subscription in subscriptions
            for site_id, name, group in self._sites(subscription)
            if name.lower() == where.name.lower()
            and (where.resource_group is None or group.lower() == where.resource_group.lower())
        ]
        if not found:
            raise AzureReadError(
                f"no function app named {where.name} in the {len(subscriptions)} subscription(s) "
                "your Azure sign-in can see: check the name, or give --subscription"
            )
        if len(found) > 1:
            raise AzureReadError(
                f"{len(found)} apps are named {where.name}: give --subscription and "
                "--resource-group"
            )
        return found[0]

    def _subscriptions(self) -> list[str]:
        return [
            str(item["subscriptionId"])
            for item in self._collection("/subscriptions", SUBSCRIPTIONS_API_VERSION)
            if isinstance(item, dict) and item.get("subscriptionId")
        ]

    def _sites(self, subscription: str) -> Iterator[tuple[str, str, str]]:
        path = f"/subscriptions/{quote(subscription, safe='')}/providers/Microsoft.Web/sites"
        for item in self._collection(path, WEB_API_VERSION):
            site_id = str(item.get("id") or "") if isinstance(item, dict) else ""
            group = re.search(r"/resourceGroups/([^/]+)/", site_id, re.IGNORECASE)
            if group:
                yield site_id, str(item.get("name") or ""), group.group(1)

    def _collection(self, path: str, api_version: str) -> Iterator[Any]:
        page = self.call("GET", path, api_version)
        while True:
            yield from page.get("value") or []
            next_link = page.get("nextLink")
            if not isinstance(next_link, str) or not next_link:
                return
            if urlsplit(next_link)[:2] != urlsplit(self._base)[:2]:  # the token stays with ARM
                raise AzureReadError("Azure Resource Manager's next-page link leaves it")
            page = self._send("GET", next_link, None)

    def call(self, method: str, path: str, api_version: str) -> dict[str, Any]:
        """One ARM call on `path` (a resource id or a collection)."""
        return self._send(method, f"{self._base}{path}", api_version)

    def _send(self, method: str, url: str, api_version: str | None) -> dict[str, Any]:
        params = {"api-version": api_version} if api_version else None
        headers = {"Authorization": f"Bearer {self._access.token(ARM_SCOPE)}"}
        try:
            response = self._http.request(method, url, params=params, headers=headers)
        except httpx.HTTPError as err:
            raise AzureReadError(
                f"Azure Resource Manager could not be reached ({type(err).__name__})"
            ) from None
        body = _json(response)
        if response.is_success:
            return body
        code = _error_code(body)
        if response.status_code == 401:
            raise AzureReadError(
                f"Azure Resource Manager refused your sign-in ({code}): run `az login` again"
            )
        if response.status_code == 403:
            raise AzureReadError(
                f"your Azure account may not read the app's settings ({code}): it needs {READ_ROLE}"
            )
        if response.status_code == 404:
            raise AzureReadError(
                f"Azure Resource Manager found no such app ({code}): check the name, "
                "--resource-group and --subscription"
            )
        raise AzureReadError(f"Azure Resource Manager answered {response.status_code} ({code})")


class _Vault:
    """Key Vault's secrets, read with the operator's identity."""

    def __init__(self, http: httpx.Client, access: AzureAccess) -> None:
        self._http = http
        self._access = access

    def secret(self, name: str, reference: str) -> str:
        """The value the reference of setting `name` points to."""
        try:
            address = reference_address(reference, self._access.vault_url)
        except ValueError as err:
            raise AzureReadError(f"setting {name}: its Key Vault reference {err}") from None
        if not self._trusted(address):
            raise AzureReadError(
                f"setting {name}: its Key Vault reference does not point to a Key Vault "
                "(https://….vault.azure.net): not followed"
            )
        headers = {"Authorization": f"Bearer {self._access.token(VAULT_SCOPE)}"}
        try:
            response = self._http.get(
                address, params={"api-version": VAULT_API_VERSION}, headers=headers
            )
        except httpx.HTTPError as err:
            raise AzureReadError(
                f"setting {name}: Key Vault could not be reached ({type(err).__name__})"
            ) from None
        body = _json(response)
        vault = urlsplit(address).hostname or "the vault"
        if response.status_code == 403:
            raise AzureReadError(
                f"setting {name}: Key Vault {vault} refused your Azure account "
                f"({_error_code(body)}): it needs the 'Key Vault Secrets User' role on the vault "
                f"(or set {name} in the environment)"
            )
        if response.status_code == 404:
            raise AzureReadError(
                f"setting {name}: Key Vault {vault} has no such secret ({_error_code(body)}): "
                "check the app setting's reference"
            )
        if not response.is_success:
            raise AzureReadError(
                f"setting {name}: Key Vault {vault} answered {response.status_code} "
                f"({_error_code(body)})"
            )
        value = body.get("value")
        if not isinstance(value, str):
            raise AzureReadError(f"setting {name}: Key Vault {vault} answered no value")
        return value

    def _trusted(self, address: str) -> bool:
        parts = urlsplit(address)
        host = (parts.hostname or "").lower()
        if parts.scheme == "https" and host.endswith(VAULT_SUFFIXES):
            return True
        configured = urlsplit(self._access.vault_url.format(vault="x"))
        # A vault at another address only as configured (a loopback test vault).
        return (parts.scheme, parts.netloc) == (configured.scheme, configured.netloc) and (
            parts.scheme == "https" or is_loopback(host)
        )


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _error_code(body: Mapping[str, Any]) -> str:
    error = body.get("error")
    code = error.get("code") if isinstance(error, dict) else None
    return str(code) if code else "no error code"
