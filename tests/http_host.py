"""What the Functions host does for HTTP triggers, emulated: the route and the key check.

The host cannot run here (Core Tools needs Microsoft's CDN), so this does its part, as Microsoft
documents it (https://learn.microsoft.com/azure/azure-functions/function-keys-how-to):
- a request reaches the function whose `route`, under the `api/` prefix, and `methods` it
  matches; none → 404;
- the function's declared `authLevel` (read from its real binding) decides which keys open it:
  `anonymous` needs none; `function` takes a key of that function, a host key (the `default`
  one or a named one: every function of the app) or the master key; `admin` takes the master
  key only;
- the key comes as the `code` query parameter or the `x-functions-key` header; a missing or
  unknown key → 401, before the function runs (the function still sees `code` among its
  parameters, as under the host);
- each HTTP function starts with a `default` function key, the app with a `default` host key
  and the master key (`_master`), as a new Function App does; `set_function_key` and
  `set_host_key` stand for `az functionapp function keys set` and `az functionapp keys set`.
"""

from __future__ import annotations

import hmac
import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any
from urllib.parse import urlencode

import azure.functions as func

from tests.conftest import app_functions

ROUTE_PREFIX = "/api/"  # host.json sets no extensions.http.routePrefix: the default


def new_key() -> str:
    """A key as the host generates one: random, URL-safe."""
    return secrets.token_urlsafe(40)


@dataclass
class HttpFunction:
    """One HTTP-triggered function as its binding declares it."""

    name: str
    route: str
    methods: tuple[str, ...]
    auth_level: str  # "ANONYMOUS", "FUNCTION" or "ADMIN", as the binding spells it
    call: Callable[[func.HttpRequest], func.HttpResponse]
    keys: dict[str, str] = field(default_factory=dict)  # this function's keys, by name


class HttpHost:
    """Routes requests to the app's HTTP functions and checks their keys as the host does."""

    def __init__(self, module: ModuleType) -> None:
        self.functions: dict[str, HttpFunction] = {}
        for name, function in app_functions(module).items():
            bindings = [json.loads(b) for b in function.get_raw_bindings()]
            trigger = next((b for b in bindings if b["type"] == "httpTrigger"), None)
            if trigger is None:
                continue
            route = trigger.get("route") or name
            if "{" in route:
                raise NotImplementedError(f"{name}: route templates are not emulated")
            self.functions[name] = HttpFunction(
                name=name,
                route=route.strip("/"),
                methods=tuple(m.upper() for m in trigger.get("methods") or ("GET", "POST")),
                auth_level=str(trigger.get("authLevel", "FUNCTION")).upper(),
                call=function.get_user_function(),
                keys={"default": new_key()},
            )
        self.host_keys = {"default": new_key()}
        self.master_key = new_key()

    # -- keys (`az functionapp function keys set`, `az functionapp keys set`) -------------
    def set_function_key(self, function: str, key_name: str) -> str:
        """A key of one function only; returns its value."""
        value = new_key()
        self.functions[function].keys[key_name] = value
        return value

    def set_host_key(self, key_name: str) -> str:
        """A host key (opens every function of auth level `function`); returns its value."""
        value = new_key()
        self.host_keys[key_name] = value
        return value

    def _opens(self, function: HttpFunction, key: str | None) -> bool:
        if function.auth_level == "ANONYMOUS":
            return True
        if not key:
            return False
        allowed = [self.master_key]
        if function.auth_level == "FUNCTION":
            allowed += [*function.keys.values(), *self.host_keys.values()]
        # Every key compared, in constant time: which one matched must not show in the timing.
        matches = [hmac.compare_digest(key.encode(), k.encode()) for k in allowed]
        return any(matches)

    # -- requests ---------------------------------------------------------------------------
    def request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
        body: bytes = b"",
    ) -> func.HttpResponse:
        """One request to `https://<app>.azurewebsites.net<path>`, answered as the host would."""
        params, headers = dict(params or {}), dict(headers or {})
        route = (
            path.removeprefix(ROUTE_PREFIX).strip("/") if path.startswith(ROUTE_PREFIX) else None
        )
        function = next(
            (
                f
                for f in self.functions.values()
                if f.route == route and method.upper() in f.methods
            ),
            None,
        )
        if function is None:
            return func.HttpResponse(status_code=404)
        key = params.get("code") or _header(headers, "x-functions-key")
        if not self._opens(function, key):
            return func.HttpResponse(status_code=401)
        query = f"?{urlencode(params)}" if params else ""
        request = func.HttpRequest(
            method.upper(),
            f"https://connector.example{path}{query}",
            headers=headers,
            params=params,
            body=body,
        )
        return function.call(request)


def _header(headers: dict[str, Any], name: str) -> str | None:
    """A header's value, its name in any case (HTTP header names are case-insensitive)."""
    return next((str(v) for k, v in headers.items() if k.lower() == name), None)
