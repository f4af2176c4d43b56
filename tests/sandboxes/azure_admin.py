"""A loopback stand-in for the two Azure APIs the setup calls, with their REST shapes:

- Key Vault secrets (api-version 7.4): `GET /secrets/{name}` (the latest version, with
  its `tags`; 404 `SecretNotFound`), `PUT /secrets/{name}` with `{"value": …, "tags": {…}}` (a
  new version; the SecretBundle back). https://learn.microsoft.com/rest/api/keyvault/secrets/set-secret/set-secret
- Azure Resource Manager, one Function App (Microsoft.Web, api-version required):
  `POST …/functions/{fn}/listkeys` (404 while the function is not deployed; the keys as a flat
  name → value object, as the service answers), `PUT …/functions/{fn}/keys/{name}` with
  `{"name", "value"}` (201 created, 200 updated; KeyInfo back),
  `POST …/host/default/listkeys` (the host keys and the master key: the setup must never ask),
  `POST …/config/appsettings/list` and `PUT …/config/appsettings` (a StringDictionary whose
  `properties` are the settings; a write replaces them all and restarts the app).
"""

from __future__ import annotations

import re
import secrets
from typing import Any, Self

from tests.sandboxes.base import RecordedRequest, Response, Sandbox

SUBSCRIPTION = "00000000-0000-4000-8000-0000000000a1"
RESOURCE_GROUP = "rg-connector"
APP = "func-connector-abc"
_SECRET = re.compile(r"^/secrets/(?P<name>[0-9A-Za-z-]{1,127})/?$")
_SITE = (
    r"^/subscriptions/(?P<sub>[^/]+)/resourceGroups/(?P<rg>[^/]+)"
    r"/providers/Microsoft\.Web/sites/(?P<app>[^/]+)"
)
_FUNCTION_KEYS = re.compile(_SITE + r"/functions/(?P<fn>[^/]+)/listkeys$", re.IGNORECASE)
_FUNCTION_KEY = re.compile(_SITE + r"/functions/(?P<fn>[^/]+)/keys/(?P<key>[^/]+)$", re.IGNORECASE)
_HOST_KEYS = re.compile(_SITE + r"/host/default/listkeys$", re.IGNORECASE)
_SETTINGS_LIST = re.compile(_SITE + r"/config/appsettings/list$", re.IGNORECASE)
_SETTINGS = re.compile(_SITE + r"/config/appsettings$", re.IGNORECASE)


def _error(status: int, code: str, message: str) -> Response:
    return Response.json({"error": {"code": code, "message": message}}, status)


class AzureAdminSandbox(Sandbox):
    """One Key Vault and one Function App, on one loopback port (their paths do not meet)."""

    def __init__(self, settings: dict[str, str] | None = None) -> None:
        super().__init__()
        self.vault: dict[str, list[str]] = {}  # name → versions, oldest first
        self.tags: dict[str, dict[str, str]] = {}  # name → the latest version's tags
        self.app_settings: dict[str, str] = dict(settings or {})
        self.functions: dict[str, dict[str, str]] = {}  # deployed functions → their keys
        self.master_key = secrets.token_urlsafe(30)
        self.restarts = 0

    def __enter__(self) -> Self:
        self.start()
        return self

    def deploy(self, *functions: str) -> None:
        """What `azd deploy` does here: the functions exist, each with its `default` key."""
        for function in functions:
            self.functions.setdefault(function, {"default": secrets.token_urlsafe(30)})

    def secret(self, name: str) -> str | None:
        """The latest version of a secret."""
        versions = self.vault.get(name)
        return versions[-1] if versions else None

    # -- the handler ------------------------------------------------------------------------
    def handle(self, request: RecordedRequest) -> Response:
        api = request.param("api-version")
        if not api:
            return _error(
                400, "MissingApiVersionParameter", "The api-version query parameter is required."
            )
        if match := _SECRET.match(request.path):
            return self._secret(request, match["name"], api)
        site = re.match(_SITE, request.path, re.IGNORECASE)
        if site is None:
            return _error(404, "NotFound", "No route.")
        if (site["sub"], site["rg"].lower(), site["app"].lower()) != (
            SUBSCRIPTION,
            RESOURCE_GROUP.lower(),
            APP.lower(),
        ):
            return _error(
                404,
                "ResourceNotFound",
                f"The Resource 'Microsoft.Web/sites/{site['app']}' was not found.",
            )
        return self._site(request)

    def _secret(self, request: RecordedRequest, name: str, api: str) -> Response:
        if api != "7.4":
            return _error(400, "BadParameter", f"The specified version ({api}) is not recognized.")
        if request.method == "GET":
            value = self.secret(name)
            if value is None:
                return _error(
                    404,
                    "SecretNotFound",
                    f"A secret with (name/id) {name} was not found in this key vault.",
                )
            return Response.json(self._bundle(name, value))
        if request.method == "PUT":
            body = request.json()
            if not isinstance(body, dict) or not isinstance(body.get("value"), str):
                return _error(400, "BadParameter", "Property value is required.")
            tags = body.get("tags") or {}
            if not isinstance(tags, dict) or not all(isinstance(v, str) for v in tags.values()):
                return _error(400, "BadParameter", "Tags must be strings.")
            self.vault.setdefault(name, []).append(body["value"])
            self.tags[name] = dict(tags)
            return Response.json(self._bundle(name, body["value"]))
        return _error(405, "MethodNotAllowed", "")

    def _bundle(self, name: str, value: str) -> dict[str, Any]:
        version = f"{len(self.vault[name]):032x}"
        return {
            "value": value,
            "id": f"{self.base_url}/secrets/{name}/{version}",
            **({"tags": self.tags[name]} if self.tags.get(name) else {}),
            "attributes": {"enabled": True, "created": 1764921600, "updated": 1764921600,
                           "recoveryLevel": "Recoverable"},
        }  # fmt: skip

    def _site(self, request: RecordedRequest) -> Response:
        path = request.path
        if (match := _FUNCTION_KEYS.match(path)) and request.method == "POST":
            keys = self.functions.get(match["fn"])
            if keys is None:
                return _error(404, "NotFound", f"Error retrieving function {match['fn']}.")
            return Response.json(dict(keys))
        if (match := _FUNCTION_KEY.match(path)) and request.method == "PUT":
            keys = self.functions.get(match["fn"])
            if keys is None:
                return _error(404, "NotFound", f"Error retrieving function {match['fn']}.")
            body = request.json() or {}
            value = body.get("value") or secrets.token_urlsafe(30)
            created = match["key"] not in keys
            keys[match["key"]] = value
            return Response.json({"name": match["key"], "value": value}, 201 if created else 200)
        if _HOST_KEYS.match(path) and request.method == "POST":
            return Response.json(
                {"masterKey": self.master_key, "functionKeys": {}, "systemKeys": {}}
            )
        if _SETTINGS_LIST.match(path) and request.method == "POST":
            return Response.json(self._settings_document())
        if _SETTINGS.match(path) and request.method == "PUT":
            body = request.json() or {}
            properties = body.get("properties")
            if not isinstance(properties, dict):
                return _error(400, "BadRequest", "properties is required.")
            self.app_settings = {k: str(v) for k, v in properties.items()}
            self.restarts += 1
            return Response.json(self._settings_document())
        return _error(404, "NotFound", "No route.")

    def _settings_document(self) -> dict[str, Any]:
        return {
            "id": f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{RESOURCE_GROUP}/providers/"
            f"Microsoft.Web/sites/{APP}/config/appsettings",
            "name": "appsettings",
            "type": "Microsoft.Web/sites/config",
            "location": "France Central",
            "properties": dict(self.app_settings),
        }
