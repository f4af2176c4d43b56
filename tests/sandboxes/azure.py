"""Azure Resource Manager and Key Vault on loopback, as `--from-azure` meets them.

ARM (https://management.azure.com), as the Web Apps REST API answers:
- `GET /subscriptions?api-version=…`: `{"value": [{"id", "subscriptionId", "displayName",
  "state", "tenantId"}]}`, the subscriptions the caller can see.
- `GET /subscriptions/{s}/providers/Microsoft.Web/sites?api-version=…`: `{"value": [site…],
  "nextLink"?}`; `GET …/resourceGroups/{rg}/providers/Microsoft.Web/sites/{name}`: one site, with
  `identity` (`principalId`, `userAssignedIdentities` with `clientId` and `principalId`).
- `POST …/sites/{name}/config/appsettings/list?api-version=…` (Web Apps - List Application
  Settings): `{"id", "name": "appsettings", "type": "Microsoft.Web/sites/config", "properties":
  {NAME: value}}`; the values as stored, Key Vault references unresolved.
- Errors: `{"error": {"code", "message"}}`: 400 `MissingApiVersionParameter`, 401
  `InvalidAuthenticationToken` (no or wrong bearer token), 403 `AuthorizationFailed` (the caller
  lacks `Microsoft.Web/sites/config/list/action`, e.g. only Reader), 404 `ResourceNotFound` and
  `ResourceGroupNotFound`.

Key Vault (https://{vault}.vault.azure.net), data plane `api-version=7.4`:
- `GET /secrets/{name}[/{version}]`: `{"value", "id", "attributes": {"enabled", …}}`.
- 401 `Unauthorized` (AKV10000, with a `WWW-Authenticate: Bearer authorization=…,
  resource=https://vault.azure.net` challenge), 403 `Forbidden` with `innererror.code`
  `ForbiddenByRbac` (no 'Key Vault Secrets User'), 404 `SecretNotFound`.

A token is a bearer string the test's credential hands out per audience: ARM accepts only its
own (`arm_token`), the vault only its own (`vault_token`).
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from typing import Any

from tests.sandboxes.base import RecordedRequest, Response, Sandbox

ARM_TOKEN = "arm-token-for-management.azure.com"
VAULT_TOKEN = "vault-token-for-vault.azure.net"
TENANT = "72f988bf-0000-4000-8000-000000000001"
_SITES = re.compile(r"^/subscriptions/([^/]+)/providers/Microsoft\.Web/sites$", re.IGNORECASE)
_SITE = re.compile(
    r"^/subscriptions/([^/]+)/resourceGroups/([^/]+)/providers/Microsoft\.Web/sites/([^/]+)"
    r"(/config/appsettings/list)?$",
    re.IGNORECASE,
)


def _error(status: int, code: str, message: str, **extra: Any) -> Response:
    return Response.json({"error": {"code": code, "message": message, **extra}}, status=status)


@dataclass
class Site:
    """A function app: where it is, its identity and its app settings."""

    subscription: str
    resource_group: str
    name: str
    settings: dict[str, str]
    client_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    principal_id: str = field(default_factory=lambda: str(uuid.uuid4()))

    @property
    def id(self) -> str:
        """The ARM resource id."""
        return (
            f"/subscriptions/{self.subscription}/resourceGroups/{self.resource_group}"
            f"/providers/Microsoft.Web/sites/{self.name}"
        )

    def document(self) -> dict[str, Any]:
        """As `GET …/sites/{name}` answers it."""
        identity_id = (
            f"/subscriptions/{self.subscription}/resourceGroups/{self.resource_group}/providers"
            f"/Microsoft.ManagedIdentity/userAssignedIdentities/id-{self.name}"
        )
        return {
            "id": self.id,
            "name": self.name,
            "type": "Microsoft.Web/sites",
            "kind": "functionapp,linux",
            "location": "francecentral",
            "identity": {
                "type": "UserAssigned",
                "userAssignedIdentities": {
                    identity_id: {"principalId": self.principal_id, "clientId": self.client_id}
                },
            },
            "properties": {"state": "Running", "defaultHostName": f"{self.name}.azurewebsites.net"},
        }


class ArmSandbox(Sandbox):
    """Azure Resource Manager's subscriptions, sites and app settings."""

    def __init__(self) -> None:
        super().__init__()
        self.sites: list[Site] = []
        self.subscriptions: list[str] = []
        self.can_list_settings = True  # False: the caller is only a Reader

    def add_site(
        self,
        name: str,
        settings: dict[str, str],
        *,
        subscription: str = "",
        resource_group: str = "rg-connector",
    ) -> Site:
        """A function app (in a new subscription unless one is named)."""
        subscription = subscription or str(uuid.uuid4())
        if subscription not in self.subscriptions:
            self.subscriptions.append(subscription)
        site = Site(subscription, resource_group, name, dict(settings))
        self.sites.append(site)
        return site

    def handle(self, request: RecordedRequest) -> Response:
        """Route one ARM request."""
        if request.header("Authorization") != f"Bearer {ARM_TOKEN}":
            return _error(
                401,
                "InvalidAuthenticationToken",
                "The access token is invalid or was issued for another audience.",
            )
        if not request.param("api-version"):
            return _error(
                400,
                "MissingApiVersionParameter",
                "The api-version query parameter (?api-version=) is required for all requests.",
            )
        if request.method == "GET" and request.path == "/subscriptions":
            return Response.json(
                {
                    "value": [
                        {
                            "id": f"/subscriptions/{s}",
                            "subscriptionId": s,
                            "displayName": f"Subscription {n}",
                            "state": "Enabled",
                            "tenantId": TENANT,
                        }
                        for n, s in enumerate(self.subscriptions)
                    ]
                }
            )
        if request.method == "GET" and (match := _SITES.match(request.path)):
            return self._list(match.group(1))
        if match := _SITE.match(request.path):
            return self._site(request, *match.groups())
        return _error(404, "NotFound", f"No route for {request.method} {request.path}.")

    def _list(self, subscription: str) -> Response:
        if subscription not in self.subscriptions:
            return _error(
                404,
                "SubscriptionNotFound",
                f"The subscription '{subscription}' could not be found.",
            )
        return Response.json(
            {"value": [s.document() for s in self.sites if s.subscription == subscription]}
        )

    def _site(
        self,
        request: RecordedRequest,
        subscription: str,
        group: str,
        name: str,
        listing: str | None,
    ) -> Response:
        if subscription not in self.subscriptions:
            return _error(
                404,
                "SubscriptionNotFound",
                f"The subscription '{subscription}' could not be found.",
            )
        if not any(
            s.resource_group.lower() == group.lower()
            for s in self.sites
            if s.subscription == subscription
        ):
            return _error(
                404, "ResourceGroupNotFound", f"Resource group '{group}' could not be found."
            )
        found = [
            s
            for s in self.sites
            if s.subscription == subscription
            and s.resource_group.lower() == group.lower()
            and s.name.lower() == name.lower()
        ]
        if not found:
            return _error(
                404,
                "ResourceNotFound",
                f"The Resource 'Microsoft.Web/sites/{name}' under resource group '{group}' was "
                "not found.",
            )
        site = found[0]
        if listing is None and request.method == "GET":
            return Response.json(site.document())
        if listing is None or request.method != "POST":
            return _error(405, "MethodNotAllowed", "The requested method is not allowed.")
        if not self.can_list_settings:
            return _error(
                403,
                "AuthorizationFailed",
                "The client 'operator@acme.fr' with object id "
                "'00000000-0000-0000-0000-00000000abcd' does not have authorization to perform "
                "action "
                "'Microsoft.Web/sites/config/list/action' over scope "
                f"'{site.id}/config/appsettings' or the scope is invalid.",
            )
        return Response.json(
            {
                "id": f"{site.id}/config/appsettings",
                "name": "appsettings",
                "type": "Microsoft.Web/sites/config",
                "location": "France Central",
                "properties": dict(site.settings),
            }
        )


class KeyVaultSandbox(Sandbox):
    """One vault's secrets (the data plane), versioned."""

    def __init__(self) -> None:
        super().__init__()
        self.secrets: dict[str, list[tuple[str, str]]] = {}  # name -> [(version, value)]
        self.readable = True  # False: the caller lacks 'Key Vault Secrets User'

    def set_secret(self, name: str, value: str) -> str:
        """A new version of `name`; its version id."""
        version = uuid.uuid4().hex
        self.secrets.setdefault(name, []).append((version, value))
        return version

    def handle(self, request: RecordedRequest) -> Response:
        """`GET /secrets/{name}[/{version}]`."""
        if request.header("Authorization") != f"Bearer {VAULT_TOKEN}":
            response = _error(
                401, "Unauthorized", "AKV10000: Request is missing a Bearer or PoP token."
            )
            response.headers["WWW-Authenticate"] = (
                f'Bearer authorization="https://login.microsoftonline.com/{TENANT}", '
                'resource="https://vault.azure.net"'
            )
            return response
        if request.param("api-version") is None:
            return _error(400, "BadParameter", "The request URI must contain an api-version.")
        match = re.fullmatch(r"/secrets/([0-9A-Za-z-]+)(?:/([0-9a-f]*))?/?", request.path)
        if request.method != "GET" or match is None:
            return _error(404, "NotFound", f"No route for {request.method} {request.path}.")
        if not self.readable:
            return _error(
                403,
                "Forbidden",
                "Caller is not authorized to perform action on resource.\r\nIf role "
                "assignments, deny assignments or role definitions were changed recently, please "
                "observe propagation time.\r\nAction: "
                "'Microsoft.KeyVault/vaults/secrets/getSecret/action'",
                innererror={"code": "ForbiddenByRbac"},
            )
        name, version = match.group(1), match.group(2) or ""
        versions = self.secrets.get(name, [])
        chosen = [v for v in versions if v[0] == version] if version else versions[-1:]
        if not chosen:
            return _error(
                404,
                "SecretNotFound",
                f"A secret with (name/id) {name}{'/' + version if version else ''} was not found "
                "in this key vault.",
            )
        found_version, value = chosen[0]
        return Response.json(
            {
                "value": value,
                "id": f"{self.base_url}/secrets/{name}/{found_version}",
                "attributes": {
                    "enabled": True,
                    "created": 1764921600,
                    "updated": 1764921600,
                    "recoveryLevel": "Recoverable+Purgeable",
                    "recoverableDays": 90,
                },
                "tags": {},
            }
        )
