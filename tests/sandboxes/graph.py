"""A loopback Microsoft Graph v1.0 sandbox for what a user-provisioning connector uses.

Routes (all under `/v1.0`): `users` (list with `$filter`, `$select`, `$top`, `$expand=manager`,
paging; create), `users/{id or userPrincipalName}` (get, update), `.../manager`,
`.../manager/$ref`, `.../revokeSignInSessions`, `domains` and `$batch`; directory roles, groups
and administrative units as tests/sandboxes/graph_memberships.py says; deleted users (the
recycle bin: list, get, restore, permanent deletion) as tests/sandboxes/graph_deleted.py says.

It keeps Graph's habits that trip connectors up: without `$select` a user carries only the
default properties (no `accountEnabled`, no `employeeId`); `$filter` needs quotes inside
literals doubled, compares strings case-insensitively and refuses `ne`, `not`, `endswith`
and non-default properties unless the advanced query parameters (`ConsistencyLevel:
eventual` and `$count=true`) are sent; writes are checked the way Entra checks them (verified
domain, unique login and addresses, 16-character `employeeId`, password complexity,
on-premises mastered users read-only); errors have Graph's body shape and codes. The nested
objects, the phone collection and directory extensions follow tests/sandboxes/graph_shapes.py.
"""

from __future__ import annotations

import base64
import copy
import json
import re
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, NoReturn
from urllib.parse import parse_qs, quote, unquote, urlencode, urlsplit

from tests.sandboxes import graph_shapes
from tests.sandboxes.base import Fault, RecordedRequest, Response, Sandbox
from tests.sandboxes.graph_deleted import DELETED, USER_CASTS, DeletedMixin
from tests.sandboxes.graph_delta import DELTA_SEGMENTS, DeltaMixin
from tests.sandboxes.graph_memberships import MembershipsMixin
from tests.sandboxes.graph_principals import PrincipalsMixin

API_ROOT = "/v1.0"
DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 999
EXPANDED_PAGE_SIZE = 100
MAX_BATCH_REQUESTS = 20
MAX_EMPLOYEE_ID = 16
# Graph's documented maximum lengths of user properties
# (https://learn.microsoft.com/graph/api/resources/user#properties): longer is a 400.
MAX_LENGTHS = {
    "displayName": 256,
    "givenName": 64,
    "surname": 64,
    "jobTitle": 128,
    "department": 64,
    "companyName": 64,
    "officeLocation": 128,
    "employeeType": 64,
    "mobilePhone": 64,
}
SUCCESS_CONTENT_TYPE = (
    "application/json;odata.metadata=minimal;odata.streaming=true;"
    "IEEE754Compatible=false;charset=utf-8"
)

# What GET /users returns without $select (Graph v1.0's default user properties).
DEFAULT_USER_SELECT = (
    "businessPhones", "displayName", "givenName", "jobTitle", "mail", "mobilePhone",
    "officeLocation", "preferredLanguage", "surname", "userPrincipalName", "id",
)  # fmt: skip
USER_PROPERTIES = (
    *DEFAULT_USER_SELECT,
    "accountEnabled", "city", "companyName", "country", "createdDateTime", "department",
    "employeeHireDate", "employeeId", "employeeLeaveDateTime", "employeeType", "mailNickname",
    "onPremisesImmutableId", "onPremisesSyncEnabled", "otherMails", "passwordProfile",
    "postalCode", "proxyAddresses", "signInSessionsValidFromDateTime", "state",
    "streetAddress", "usageLocation", "userType",
    "employeeOrgData", "onPremisesExtensionAttributes",  # graph_shapes.py: nested objects
    "deletedDateTime",  # directoryObject's: set in deleted items only (graph_deleted.py)
)  # fmt: skip
_USER_PROPERTY_BY_LOWER = {name.lower(): name for name in USER_PROPERTIES}
DOMAIN_PROPERTIES = (
    "authenticationType", "availabilityStatus", "id", "isAdminManaged", "isDefault",
    "isInitial", "isRoot", "isVerified", "passwordNotificationWindowInDays",
    "passwordValidityPeriodInDays", "supportedServices", "state",
)  # fmt: skip
_DOMAIN_PROPERTY_BY_LOWER = {name.lower(): name for name in DOMAIN_PROPERTIES}
READ_ONLY_PROPERTIES = frozenset(
    {
        "id",
        "createdDateTime",
        "deletedDateTime",
        "onPremisesSyncEnabled",
        "signInSessionsValidFromDateTime",
    }
)
COLLECTION_PROPERTIES = frozenset({"businessPhones", "otherMails", "proxyAddresses"})
BOOLEAN_PROPERTIES = frozenset({"accountEnabled", "onPremisesSyncEnabled"})
# Filterable with eq / in / startswith without the advanced query parameters.
DEFAULT_FILTERABLE = frozenset(
    {"id", "accountEnabled", "displayName", "employeeId", "givenName", "jobTitle", "mail",
     "mailNickname", "surname", "userPrincipalName", "userType"}
)  # fmt: skip
# What the cloud may still change on a user mastered on premises (synced by Entra Connect).
CLOUD_WRITABLE_WHEN_SYNCED = frozenset({"usageLocation", "employeeLeaveDateTime"})
REQUIRED_ON_CREATE = (
    "accountEnabled", "displayName", "mailNickname", "userPrincipalName", "passwordProfile",
)  # fmt: skip
_UNITS = ["directory", "administrativeUnits"]
_MAIL_NICKNAME = re.compile(r"[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~.]{1,64}")
_TOKEN = re.compile(
    r"\s*(?:(?P<string>'(?:[^']|'')*')|(?P<punct>[(),:])"
    r"|(?P<word>[A-Za-z_$][A-Za-z0-9_./]*)|(?P<number>-?\d+(?![\w.])))"
)


class GraphError(Exception):
    """An error Graph answers with: status, `error.code`, `error.message`, `error.details`."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        details: list[dict[str, str]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status, self.code, self.message = status, code, message
        self.details, self.headers = details, headers or {}


def error_body(code: str, message: str, ids: dict[str, str], details: Any = None) -> Any:
    """Graph's error body: `{"error": {"code", "message", ["details"], "innerError"}}`."""
    error: dict[str, Any] = {"code": code, "message": message}
    if details:
        error["details"] = details
    error["innerError"] = {"date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S"), **ids}
    return {"error": error}


def _new_ids(client_request_id: str | None = None) -> dict[str, str]:
    """Graph's `request-id`, and `client-request-id` (echoed, or the request id)."""
    request_id = str(uuid.uuid4())
    return {"request-id": request_id, "client-request-id": client_request_id or request_id}


def _not_found(key: str) -> GraphError:
    message = (
        f"Resource '{key}' does not exist or one of its queried reference-property objects "
        "are not present."
    )
    return GraphError(404, "Request_ResourceNotFound", message)


def _invalid_value(prop: str) -> GraphError:
    message = f"Invalid value specified for property '{prop}' of resource 'User'."
    return GraphError(400, "Request_BadRequest", message)


def _conflict(prop: str) -> GraphError:
    message = f"Another object with the same value for property {prop} already exists."
    details = [{"code": "ObjectConflict", "target": prop}]
    return GraphError(400, "Request_BadRequest", message, details=details)


def _no_such_property(name: str, entity: str = "user") -> GraphError:
    message = f"Could not find a property named '{name}' on type 'microsoft.graph.{entity}'."
    return GraphError(400, "BadRequest", message)


def _unsupported_filter(prop: str | None) -> GraphError:
    if prop is None:
        return GraphError(400, "Request_UnsupportedQuery", "Unsupported Query.")
    message = (
        "Unsupported or invalid query filter clause specified for property "
        f"'{prop}' of resource 'User'."
    )
    return GraphError(400, "Request_UnsupportedQuery", message)


def _equals(actual: Any, expected: Any) -> bool:
    """Graph's `eq`: case-insensitive on strings, `null` matches a missing value."""
    if expected is None:
        return actual is None
    if isinstance(expected, str):
        return isinstance(actual, str) and actual.casefold() == expected.casefold()
    return type(actual) is type(expected) and actual == expected


Predicate = Callable[[dict[str, Any]], bool]


class FilterParser:
    """Parses the `$filter` forms a connector sends on users into a predicate."""

    def __init__(self, text: str, *, advanced: bool) -> None:
        self.text, self.advanced, self.pos = text, advanced, 0
        self.tokens: list[tuple[str, str, int]] = []
        while text[self.pos :].strip():
            match = _TOKEN.match(text, self.pos)
            if match is None or match.lastgroup is None:
                self._syntax_error(len(text) - len(text[self.pos :].lstrip()))
            kind = match.lastgroup
            self.tokens.append((kind, match.group(kind), match.start(kind)))
            self.pos = match.end()
        self.index = 0

    def parse(self) -> Predicate:
        """The predicate, or a GraphError as Graph would answer."""
        predicate = self._or()
        if self.index < len(self.tokens):
            self._syntax_error(self.tokens[self.index][2])
        return predicate

    def _syntax_error(self, position: int) -> NoReturn:
        message = f"Invalid filter clause: Syntax error at position {position} in '{self.text}'."
        raise GraphError(400, "BadRequest", message)

    def _next(self) -> tuple[str, str, int]:
        if self.index >= len(self.tokens):
            self._syntax_error(len(self.text))
        token = self.tokens[self.index]
        self.index += 1
        return token

    def _accept(self, text: str) -> bool:
        if self.index < len(self.tokens) and self.tokens[self.index][1].lower() == text:
            self.index += 1
            return True
        return False

    def _expect(self, text: str) -> None:
        token = self._next()
        if token[1] != text:
            self._syntax_error(token[2])

    def _or(self) -> Predicate:
        parts = [self._and()]
        while self._accept("or"):
            parts.append(self._and())
        return parts[0] if len(parts) == 1 else lambda u: any(p(u) for p in parts)

    def _and(self) -> Predicate:
        parts = [self._unary()]
        while self._accept("and"):
            parts.append(self._unary())
        return parts[0] if len(parts) == 1 else lambda u: all(p(u) for p in parts)

    def _unary(self) -> Predicate:
        if self._accept("not"):
            if not self.advanced:
                raise _unsupported_filter(None)
            inner = self._unary()
            return lambda u: not inner(u)
        if self._accept("("):
            inner = self._or()
            self._expect(")")
            return inner
        kind, word, position = self._next()
        if kind != "word":
            self._syntax_error(position)
        if word.lower().endswith("/any") and self._accept("("):
            return self._any(word[: -len("/any")], position)
        if self._accept("("):
            return self._function(word.lower(), position)
        prop = self._property(word)
        operator = self._next()[1].lower()
        if operator == "in":
            self._expect("(")
            values = [self._literal(prop)]
            while self._accept(","):
                values.append(self._literal(prop))
            self._expect(")")
            return lambda u: any(_equals(u.get(prop), v) for v in values)
        if operator not in {"eq", "ne"}:
            if operator in {"gt", "ge", "lt", "le", "has"}:
                raise _unsupported_filter(prop)
            self._syntax_error(position)
        value = self._literal(prop)
        if operator == "ne":
            if not self.advanced:
                raise _unsupported_filter(prop)
            return lambda u: not _equals(u.get(prop), value)
        return lambda u: _equals(u.get(prop), value)

    def _function(self, name: str, position: int) -> Predicate:
        if name not in {"startswith", "endswith"}:
            message = f"An unknown function with name '{name}' was found."
            raise GraphError(400, "BadRequest", message)
        prop = self._property(self._next()[1])
        self._expect(",")
        value = self._literal(prop)
        self._expect(")")
        if not isinstance(value, str):
            self._syntax_error(position)
        if name == "endswith" and not self.advanced:
            raise _unsupported_filter(prop)
        needle = value.casefold()
        if name == "startswith":
            return lambda u: str(u.get(prop) or "").casefold().startswith(needle)
        return lambda u: str(u.get(prop) or "").casefold().endswith(needle)

    def _any(self, name: str, position: int) -> Predicate:
        """`proxyAddresses/any(p:p eq 'smtp:…')`: a default query on a multi-valued property
        (https://learn.microsoft.com/graph/filter-query-parameter#operators-and-functions)."""
        prop = _USER_PROPERTY_BY_LOWER.get(name.lower())
        if prop is None:
            raise _no_such_property(name)
        if prop not in {"proxyAddresses", "otherMails"}:
            raise _unsupported_filter(prop)
        variable = self._next()
        self._expect(":")
        if self._next()[1] != variable[1]:
            self._syntax_error(position)
        if self._next()[1].lower() != "eq":
            raise _unsupported_filter(prop)
        value = self._literal(prop)
        self._expect(")")
        return lambda u: any(_equals(v, value) for v in u.get(prop) or [])

    def _property(self, word: str) -> str:
        prop = _USER_PROPERTY_BY_LOWER.get(word.lower())
        if prop is None or prop == "passwordProfile":
            raise _no_such_property(word)
        if prop in COLLECTION_PROPERTIES or (prop not in DEFAULT_FILTERABLE and not self.advanced):
            raise _unsupported_filter(prop)
        return prop

    def _literal(self, prop: str) -> Any:
        kind, text, position = self._next()
        if kind == "word" and text == "null":
            return None
        value: Any
        if kind == "string":
            value, edm = text[1:-1].replace("''", "'"), "Edm.String"
        elif kind == "word" and text in {"true", "false"}:
            value, edm = text == "true", "Edm.Boolean"
        elif kind == "number":
            value, edm = int(text), "Edm.Int32"
        else:
            self._syntax_error(position)
        expected = "Edm.Boolean" if prop in BOOLEAN_PROPERTIES else "Edm.String"
        if edm != expected:
            message = (
                "A binary operator with incompatible types was detected. Found operand types "
                f"'{expected}' and '{edm}' for operator kind 'Equal'."
            )
            raise GraphError(400, "BadRequest", message)
        return value


def _complex_enough(password: Any) -> bool:
    """Entra's rule: 8 to 256 characters, three of lowercase, uppercase, digit, symbol."""
    if not isinstance(password, str) or not 8 <= len(password) <= 256:
        return False
    classes = (str.islower, str.isupper, str.isdigit, lambda c: not c.isalnum())
    return sum(any(test(c) for c in password) for test in classes) >= 3


class GraphSandbox(DeletedMixin, PrincipalsMixin, DeltaMixin, MembershipsMixin, Sandbox):
    """Microsoft Graph v1.0 users, manager, domains, role assignments, group and administrative
    unit members and `$batch`, in memory, over HTTP."""

    def __init__(self, initial_domain: str = "contoso.onmicrosoft.com") -> None:
        super().__init__()
        self.initial_domain = initial_domain
        self._current: RecordedRequest | None = None
        self.reset()

    def reset(self) -> None:
        """Back to an empty tenant with only the initial domain; no faults, an empty log."""
        with self._lock:
            self._users: dict[str, dict[str, Any]] = {}
            self._managers: dict[str, str] = {}
            self._domains: dict[str, dict[str, Any]] = {}
            self._denied: set[tuple[str, str | None]] = set()
            self._extensions: dict[str, str] = {}  # directory extension names, by lower case
            self._reset_memberships()
            self._reset_principals()
            self._reset_delta()
            self._reset_deleted()
            self.clear_faults()
            self.reset_log()
        self.add_domain(self.initial_domain, is_default=True)

    # -- directory state for tests ----------------------------------------------------------
    def add_user(self, **attrs: Any) -> dict[str, Any]:
        """Put a user in the directory as is (no validation); returns a copy with its id."""
        user: dict[str, Any] = {
            "id": str(uuid.uuid4()),
            "accountEnabled": True,
            "userType": "Member",
            "onPremisesSyncEnabled": None,
            "employeeId": None,
            "createdDateTime": _now(),
            **attrs,
        }
        with self._lock:
            self._users[user["id"]] = user
        return copy.deepcopy(user)

    def register_extension(self, name: str) -> None:
        """Register a String directory extension property (`extension_<app id>_<name>`)."""
        with self._lock:
            self._extensions[name.lower()] = name

    def edit_user(self, user_id: str, **attrs: Any) -> None:
        """Change a user as an administrator would in the Entra admin center."""
        with self._lock:
            self._users[user_id].update(attrs)

    def user(self, user_id: str) -> dict[str, Any]:
        """A copy of every stored property of a user (KeyError if none)."""
        with self._lock:
            return copy.deepcopy(self._users[user_id])

    @property
    def users(self) -> list[dict[str, Any]]:
        """Copies of every user, in creation order."""
        with self._lock:
            return [copy.deepcopy(user) for user in self._users.values()]

    def add_domain(
        self,
        domain_id: str,
        *,
        is_verified: bool = True,
        authentication_type: str = "Managed",
        is_default: bool = False,
    ) -> dict[str, Any]:
        """Add a domain to the tenant (the first one added by __init__ is the default)."""
        domain = {
            "authenticationType": authentication_type,
            "availabilityStatus": None,
            "id": domain_id,
            "isAdminManaged": True,
            "isDefault": is_default,
            "isInitial": domain_id.lower().endswith(".onmicrosoft.com"),
            "isRoot": True,
            "isVerified": is_verified,
            "passwordNotificationWindowInDays": None,
            "passwordValidityPeriodInDays": None,
            "supportedServices": ["Email", "OfficeCommunicationsOnline"] if is_verified else [],
            "state": None,
        }
        with self._lock:
            if is_default:
                for other in self._domains.values():
                    other["isDefault"] = False
            self._domains[domain_id.lower()] = domain
        return copy.deepcopy(domain)

    def set_manager(self, user_id: str, manager_id: str | None) -> None:
        """Set (or with None, remove) a user's manager."""
        with self._lock:
            if manager_id is None:
                self._managers.pop(user_id, None)
            else:
                self._managers[user_id] = manager_id

    def manager_of(self, user_id: str) -> str | None:
        """The id of a user's manager, or None."""
        with self._lock:
            return self._managers.get(user_id)

    def deny(self, user_id: str, method: str | None = "PATCH") -> None:
        """Answer 403 Authorization_RequestDenied to `method` (None: any) on that user."""
        with self._lock:
            self._denied.add((user_id, method.upper() if method else None))

    def fail(
        self,
        status: int,
        code: str,
        message: str,
        *,
        times: int = 1,
        path: str | None = None,
        method: str | None = None,
        headers: dict[str, str] | None = None,
        during: Callable[[], bool] | None = None,
        after_handling: bool = False,
    ) -> Fault:
        """Answer the next `times` matching requests with a Graph error body (only while
        `during()` holds, if given; `after_handling`: carried out, the answer lost)."""
        ids = _new_ids()
        body = error_body(code, message, ids)
        headers = ids | (headers or {})
        return self.inject(
            status,
            method=method,
            path=path,
            times=times,
            body=body,
            headers=headers,
            during=during,
            after_handling=after_handling,
        )

    def throttle(
        self,
        times: int = 1,
        retry_after: int = 1,
        *,
        path: str | None = None,
        method: str | None = None,
    ) -> Fault:
        """Answer the next `times` matching requests 429 with `Retry-After` and Graph's body."""
        message = "Please retry again later."
        headers = {"Retry-After": str(retry_after)}
        return self.fail(
            429, "TooManyRequests", message, times=times, path=path, method=method, headers=headers
        )

    def unavailable(
        self,
        times: int = 1,
        *,
        retry_after: int | None = None,
        path: str | None = None,
        method: str | None = None,
        during: Callable[[], bool] | None = None,
    ) -> Fault:
        """Answer the next `times` matching requests 503 (with `Retry-After` if given); with
        `during`, an outage: every matching request while `during()` holds."""
        message = "The service is temporarily unavailable. Please retry later."
        headers = {} if retry_after is None else {"Retry-After": str(retry_after)}
        code = "serviceNotAvailable"
        return self.fail(
            503,
            code,
            message,
            times=times,
            path=path,
            method=method,
            headers=headers,
            during=during,
        )

    # -- HTTP -------------------------------------------------------------------------------
    def handle(self, request: RecordedRequest) -> Response:
        """Route one request; every refusal is a Graph error body."""
        outer, self._current = self._current, request
        try:
            return self._route(request)
        except GraphError as error:
            return self._error_response(error)
        finally:
            self._current = outer

    def _ids(self) -> dict[str, str]:
        return _new_ids(self._current.header("client-request-id") if self._current else None)

    def _error_response(self, error: GraphError) -> Response:
        ids = self._ids()
        body = error_body(error.code, error.message, ids, error.details)
        return Response.json(body, status=error.status, headers=ids | error.headers)

    def _ok(self, payload: Any = None, status: int = 200) -> Response:
        """A JSON answer with Graph's content type, or 204 when there is no payload."""
        if payload is None:
            return Response(status=204, headers=self._ids())
        headers = {"Content-Type": SUCCESS_CONTENT_TYPE} | self._ids()
        return Response.json(payload, status=status, headers=headers)

    def _context(self, fragment: str) -> str:
        return f"{self.base_url}{API_ROOT}/$metadata#{fragment}"

    def _route(self, request: RecordedRequest) -> Response:
        if not request.path.startswith(f"{API_ROOT}/"):
            version = request.path.strip("/").split("/")[0]
            raise GraphError(400, "BadRequest", f"Invalid version: {version}")
        parts = [unquote(p) for p in request.path[len(API_ROOT) + 1 :].split("/") if p]
        is_user_item = len(parts) >= 2 and parts[0] == "users"
        # An item of another collection: its key's position in the path.
        item = 1 if parts[:1] in (["groups"], ["servicePrincipals"]) else None
        item = 2 if parts[:2] == _UNITS else item
        item = 2 if parts[:2] == DELETED and (parts[2:3] or [""])[0] not in USER_CASTS else item
        if item is not None and len(parts) <= item:
            item = None
        shape = tuple(parts)
        if parts[:1] == ["users"] and parts[1:] and parts[1] in DELTA_SEGMENTS and not parts[2:]:
            shape, is_user_item = ("users", "delta"), False
        elif is_user_item:
            shape = ("users", "*", *parts[2:])
        elif item is not None:
            shape = (*parts[:item], "*", *parts[item + 1 :])
        routes = self._routes()
        if shape not in routes:
            message = f"Resource not found for the segment '{parts[-1] if parts else ''}'."
            raise GraphError(400, "BadRequest", message)
        handler = routes[shape].get(request.method)
        if handler is None:
            message = "Specified HTTP method is not allowed for the request target."
            raise GraphError(405, "BadRequest", message)
        if item is not None:
            return handler(request, parts[item])
        if not is_user_item:
            return handler(request)
        user = self._resolve(parts[1])
        denied = self._denied & {(user["id"], request.method), (user["id"], None)}
        if denied:
            message = "Insufficient privileges to complete the operation."
            raise GraphError(403, "Authorization_RequestDenied", message)
        return handler(request, user)

    def _routes(self) -> dict[tuple[str, ...], dict[str, Callable[..., Response]]]:
        return {
            ("users",): {"GET": self._list_users, "POST": self._create_user},
            ("users", "delta"): {"GET": self._users_delta},
            ("users", "*"): {"GET": self._get_user, "PATCH": self._update_user},
            ("users", "*", "manager"): {"GET": self._get_manager},
            ("users", "*", "manager", "$ref"): {
                "PUT": self._put_manager,
                "DELETE": self._delete_manager,
            },
            ("users", "*", "revokeSignInSessions"): {"POST": self._revoke_sessions},
            ("domains",): {"GET": self._list_domains},
            ("$batch",): {"POST": self._batch},
            **self._membership_routes(),
            **self._principal_routes(),
            **self._deleted_routes(),
        }

    def _graph_error(self, status: int, code: str, message: str) -> Exception:
        return GraphError(status, code, message)

    def _missing(self, key: str) -> Exception:
        return _not_found(key)

    # -- users ------------------------------------------------------------------------------
    def _resolve(self, key: str) -> dict[str, Any]:
        if key in self._users:
            return self._users[key]
        for user in self._users.values():
            if str(user.get("userPrincipalName") or "").casefold() == key.casefold():
                return user
        raise _not_found(key)

    def _list_users(self, request: RecordedRequest) -> Response:
        select = _parse_select(_option(request, "select"), extensions=self._extensions)
        expand = _parse_expand(_option(request, "expand"))
        top = _parse_top(_option(request, "top"))
        if expand is not None:  # Graph's known limit: $expand gives 100 directory objects a page
            top = min(top, EXPANDED_PAGE_SIZE)
        offset = _parse_skiptoken(_option(request, "skiptoken"))
        advanced = (request.header("ConsistencyLevel") or "").lower() == "eventual" and (
            (_option(request, "count") or "").lower() == "true"
        )
        matching = list(self._users.values())
        raw_filter = _option(request, "filter")
        if raw_filter:
            predicate = FilterParser(raw_filter, advanced=advanced).parse()
            matching = [u for u in matching if predicate(u)]
        page = matching[offset : offset + top]
        fragment = f"users({','.join(select)})" if select else "users"
        payload: dict[str, Any] = {"@odata.context": self._context(fragment)}
        if advanced:
            payload["@odata.count"] = len(matching)
        if offset + top < len(matching):
            query = {k: v[0] for k, v in request.query.items() if k.lstrip("$") != "skiptoken"}
            query["$skiptoken"] = _skiptoken(offset + top)
            encoded = urlencode(query, quote_via=quote, safe="$")
            payload["@odata.nextLink"] = f"{self.base_url}{request.path}?{encoded}"
        payload["value"] = [self._project(u, select, expand) for u in page]
        return self._ok(payload)

    def _select_expand(self, request: RecordedRequest) -> tuple[list[str] | None, list[str] | None]:
        """A request's `$select` and `$expand` (400 on a property Graph does not have)."""
        return _parse_select(_option(request, "select")), _parse_expand(_option(request, "expand"))

    def _get_user(self, request: RecordedRequest, user: dict[str, Any]) -> Response:
        select = _parse_select(_option(request, "select"), extensions=self._extensions)
        expand = _parse_expand(_option(request, "expand"))
        fragment = f"users({','.join(select)})/$entity" if select else "users/$entity"
        body = {"@odata.context": self._context(fragment), **self._project(user, select, expand)}
        return self._ok(body)

    def _create_user(self, request: RecordedRequest) -> Response:
        attrs = self._writable(request)
        for prop in REQUIRED_ON_CREATE:
            if attrs.get(prop) in (None, ""):
                message = f"A value is required for property '{prop}' of resource 'User'."
                raise GraphError(400, "Request_BadRequest", message)
        if not (attrs["passwordProfile"] or {}).get("password"):
            message = "A value is required for property 'passwordProfile' of resource 'User'."
            raise GraphError(400, "Request_BadRequest", message)
        self._validate(attrs, existing=None)
        shaped: dict[str, Any] = {}
        graph_shapes.apply(shaped, attrs)
        user = self.add_user(**shaped)
        body = {
            "@odata.context": self._context("users/$entity"),
            **self._project(self._users[user["id"]], None),
        }
        return self._ok(body, status=201)

    def _update_user(self, request: RecordedRequest, user: dict[str, Any]) -> Response:
        attrs = self._writable(request)
        if user.get("onPremisesSyncEnabled") and set(attrs) - CLOUD_WRITABLE_WHEN_SYNCED:
            message = (
                "Unable to update the specified properties for on-premises mastered Directory "
                "Sync objects or objects currently undergoing migration."
            )
            raise GraphError(400, "Request_BadRequest", message)
        self._validate(attrs, existing=user)
        graph_shapes.apply(user, attrs)
        return self._ok()

    def _revoke_sessions(self, request: RecordedRequest, user: dict[str, Any]) -> Response:
        user["signInSessionsValidFromDateTime"] = _now()
        return self._ok({"@odata.context": self._context("Edm.Boolean"), "value": True})

    def _writable(self, request: RecordedRequest) -> dict[str, Any]:
        body = _json_body(request)
        if not isinstance(body, dict):
            raise _bad_payload()
        attrs: dict[str, Any] = {}
        for given, value in body.items():
            if given.startswith("@odata.") or given in READ_ONLY_PROPERTIES:
                continue
            key = self._extensions.get(given.lower(), given)
            if key not in USER_PROPERTIES and key not in self._extensions.values():
                message = (
                    f"The property '{key}' does not exist on type 'microsoft.graph.user'. Make "
                    "sure to only use property names that are defined by the type or mark the "
                    "type as open type."
                )
                raise GraphError(400, "BadRequest", message)
            attrs[key] = value
        return attrs

    def _validate(self, attrs: dict[str, Any], *, existing: dict[str, Any] | None) -> None:
        graph_shapes.check(attrs, GraphError)
        employee_id = attrs.get("employeeId")
        if employee_id is not None and len(str(employee_id)) > MAX_EMPLOYEE_ID:
            raise _invalid_value("employeeId")
        for name, longest in MAX_LENGTHS.items():
            if isinstance(attrs.get(name), str) and len(attrs[name]) > longest:
                raise _invalid_value(name)
        nickname = attrs.get("mailNickname", "x")
        if not isinstance(nickname, str) or not _MAIL_NICKNAME.fullmatch(nickname):
            raise _invalid_value("mailNickname")
        profile = attrs.get("passwordProfile") or {}
        if "password" in profile and not _complex_enough(profile["password"]):
            message = (
                "The specified password does not comply with password complexity requirements. "
                "Please provide a different password."
            )
            raise GraphError(400, "Request_BadRequest", message)
        others = [u for u in self._users.values() if existing is None or u is not existing]
        others += self._deleted_values()  # a deleted user keeps its addresses (graph_deleted.py)
        taken = set().union(*(_addresses(u) for u in others))
        upn = attrs.get("userPrincipalName")
        if upn is not None:
            local, _, domain_name = str(upn).rpartition("@")
            if not local or not _MAIL_NICKNAME.fullmatch(local) or local.endswith("."):
                raise _invalid_value("userPrincipalName")
            domain = self._domains.get(domain_name.lower())
            if domain is None or not domain["isVerified"]:
                message = (
                    "The domain portion of the userPrincipalName property is invalid. You must "
                    "use one of the verified domain names in your organization."
                )
                raise GraphError(400, "Request_BadRequest", message)
            immutable_id = attrs.get("onPremisesImmutableId") or (existing or {}).get(
                "onPremisesImmutableId"
            )
            if domain["authenticationType"] == "Federated" and not immutable_id:
                message = (
                    "Property onPremisesImmutableId is required when using a federated "
                    "domain for the userPrincipalName."
                )
                raise GraphError(400, "Request_BadRequest", message)
            if any(str(u.get("userPrincipalName") or "").lower() == upn.lower() for u in others):
                raise _conflict("userPrincipalName")
            if upn.lower() in taken:
                raise _conflict("proxyAddresses")
        mail = attrs.get("mail")
        if mail is not None and str(mail).lower() in taken:
            raise _conflict("proxyAddresses")

    def _project(
        self, user: dict[str, Any], select: list[str] | None, expand: list[str] | None = None
    ) -> dict[str, Any]:
        """The user as Graph shows it; `expand` is the manager's `$select` ([]: default)."""
        result = {
            name: _read(user, name)
            for name in select or DEFAULT_USER_SELECT
            # Graph leaves an unset directory extension property out of the answer.
            if not (name.startswith("extension_") and user.get(name) is None)
        }
        manager_id = self._managers.get(user["id"])
        if expand is not None and manager_id in self._users:
            manager = self._project(self._users[manager_id], expand or None)
            result["manager"] = {"@odata.type": "#microsoft.graph.user", **manager}
        return result

    # -- manager ----------------------------------------------------------------------------
    def _get_manager(self, request: RecordedRequest, user: dict[str, Any]) -> Response:
        manager_id = self._managers.get(user["id"])
        if manager_id is None or manager_id not in self._users:
            raise _not_found("manager")
        select = _parse_select(_option(request, "select"), extensions=self._extensions)
        body = {
            "@odata.context": self._context("directoryObjects/$entity"),
            "@odata.type": "#microsoft.graph.user",
            **self._project(self._users[manager_id], select),
        }
        return self._ok(body)

    def _put_manager(self, request: RecordedRequest, user: dict[str, Any]) -> Response:
        body = _json_body(request)
        reference = body.get("@odata.id") if isinstance(body, dict) else None
        match = re.search(r"/(?:users|directoryObjects)/([^/?#]+)/?$", str(reference or ""))
        if match is None:
            message = "Invalid URL format specified in @odata.id for the reference."
            raise GraphError(400, "Request_BadRequest", message)
        manager = self._resolve(unquote(match.group(1)))
        self._managers[user["id"]] = manager["id"]
        return self._ok()

    def _delete_manager(self, request: RecordedRequest, user: dict[str, Any]) -> Response:
        if self._managers.pop(user["id"], None) is None:
            raise _not_found("manager")
        return self._ok()

    # -- domains ----------------------------------------------------------------------------
    def _list_domains(self, request: RecordedRequest) -> Response:
        select = _parse_select(_option(request, "select"), entity="domain")
        domains = list(self._domains.values())
        value = [{k: d[k] for k in select} if select else dict(d) for d in domains]
        fragment = f"domains({','.join(select)})" if select else "domains"
        return self._ok({"@odata.context": self._context(fragment), "value": value})

    # -- $batch -----------------------------------------------------------------------------
    def _batch(self, request: RecordedRequest) -> Response:
        payload = _json_body(request)
        items = payload.get("requests") if isinstance(payload, dict) else None
        if not isinstance(items, list) or not items:
            raise GraphError(400, "BadRequest", "Invalid batch payload format.")
        if len(items) > MAX_BATCH_REQUESTS:
            message = f"Batch request has {len(items)} requests; the limit is {MAX_BATCH_REQUESTS}."
            raise GraphError(400, "BadRequest", message)
        ids = [str(item.get("id", "")) if isinstance(item, dict) else "" for item in items]
        if "" in ids or len(set(ids)) != len(ids):
            raise GraphError(400, "BadRequest", "Batch request ids must be present and unique.")
        statuses: dict[str, int] = {}
        responses = []
        for request_id, item in zip(ids, items, strict=True):
            failed = [d for d in item.get("dependsOn") or [] if statuses.get(d, 0) >= 400]
            if failed:
                error = GraphError(424, "FailedDependency", "Dependent request failed.")
                response = self._error_response(error)
            else:
                response = self._inner(item)
            statuses[request_id] = response.status
            entry: dict[str, Any] = {"id": request_id, "status": response.status}
            entry["headers"] = {k: v for k, v in response.headers.items() if k != "Content-Length"}
            if response.body:
                entry["body"] = json.loads(response.body)
            responses.append(entry)
        return self._ok({"responses": responses})

    def _inner(self, item: dict[str, Any]) -> Response:
        """Dispatch one batch step as a request of its own (recorded, faults apply)."""
        parts = urlsplit(str(item.get("url", "")))
        path = parts.path if parts.path.startswith(f"{API_ROOT}/") else None
        if path is None:
            path = f"{API_ROOT}/{parts.path.lstrip('/')}"
        headers = {str(k): str(v) for k, v in (item.get("headers") or {}).items()}
        body = item.get("body")
        raw = b""
        if body is not None:
            if not any(k.lower() == "content-type" for k in headers):
                message = "Content-Type header must be specified for a request with a body."
                return self._error_response(GraphError(400, "BadRequest", message))
            raw = base64.b64decode(body) if isinstance(body, str) else json.dumps(body).encode()
        inner = RecordedRequest(
            method=str(item.get("method", "GET")).upper(),
            path=path,
            query=parse_qs(parts.query, keep_blank_values=True),
            headers=headers,
            body=raw,
        )
        return self.dispatch(inner)


# -- helpers ----------------------------------------------------------------------------------
def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _option(request: RecordedRequest, name: str) -> str | None:
    """A system query option, with or without its `$` (Graph v1.0 takes both)."""
    value = request.param(f"${name}")
    return value if value is not None else request.param(name)


def _select_expand_error(name: str, entity: str = "user") -> GraphError:
    message = (
        "Parsing OData Select and Expand failed: Could not find a property named "
        f"'{name}' on type 'microsoft.graph.{entity}'."
    )
    return GraphError(400, "BadRequest", message)


def _parse_select(
    raw: str | None, entity: str = "user", *, extensions: dict[str, str] | None = None
) -> list[str] | None:
    if not raw:
        return None
    known = _USER_PROPERTY_BY_LOWER if entity == "user" else _DOMAIN_PROPERTY_BY_LOWER
    known = known | (extensions or {})
    chosen = []
    for name in (n.strip() for n in raw.split(",")):
        if name.lower() not in known:
            raise _select_expand_error(name, entity)
        chosen.append(known[name.lower()])
    return chosen


def _parse_expand(raw: str | None) -> list[str] | None:
    """`manager` → [], `manager($select=a,b)` → [a, b], absent → None; nothing else."""
    if not raw:
        return None
    match = re.fullmatch(r"\s*manager\s*(?:\(\s*\$select\s*=\s*([^)]*)\))?\s*", raw)
    if match is None:
        raise _select_expand_error(re.split(r"[(,\s]", raw.strip(), maxsplit=1)[0])
    return _parse_select(match.group(1)) or [] if match.group(1) else []


def _parse_top(raw: str | None) -> int:
    if raw is None:
        return DEFAULT_PAGE_SIZE
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_PAGE_SIZE:
        message = f"Invalid page size specified: '{raw}'. Must be between 1 and 999 inclusive."
        raise GraphError(400, "Request_UnsupportedQuery", message)
    return int(raw)


def _skiptoken(offset: int) -> str:
    return base64.urlsafe_b64encode(f"sandbox-offset:{offset}".encode()).decode()


def _parse_skiptoken(raw: str | None) -> int:
    if raw is None:
        return 0
    try:
        prefix, _, offset = base64.urlsafe_b64decode(raw.encode()).decode().partition(":")
        if prefix == "sandbox-offset" and offset.isdigit():
            return int(offset)
    except (ValueError, UnicodeDecodeError):
        pass
    raise GraphError(400, "Request_BadRequest", "Invalid skip token.")


def _json_body(request: RecordedRequest) -> Any:
    try:
        return request.json()
    except (ValueError, UnicodeDecodeError):
        raise _bad_payload() from None


def _bad_payload() -> GraphError:
    message = (
        "Unable to read JSON request payload. Please ensure Content-Type header is set and "
        "payload is of valid JSON format."
    )
    return GraphError(400, "BadRequest", message)


def _read(user: dict[str, Any], name: str) -> Any:
    if name == "passwordProfile":
        return None
    if name in graph_shapes.MEMBERS:
        return graph_shapes.read(user, name)
    default: Any = [] if name in COLLECTION_PROPERTIES else None
    return copy.deepcopy(user.get(name, default))


def _addresses(user: dict[str, Any]) -> set[str]:
    """Every address a user holds: login, mail and `smtp:` proxy addresses, lowercased."""
    found = {str(user.get("userPrincipalName") or ""), str(user.get("mail") or "")}
    found.update(p.partition(":")[2] for p in user.get("proxyAddresses") or [])
    return {a.lower() for a in found if a}
