"""What Lucca's answers mean: a JSON document, or the one connector error its status stands for.

The API's answers and the token endpoint's are read here, once; nothing here sends, and no
message holds a token or the client secret.
"""

from __future__ import annotations

import re
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel, ValidationError

from connector.core.errors import Denied, Invalid, NotFound, Throttled, Transient
from connector.core.net import retry_after_seconds

DEFAULT_RETRY_AFTER = 60.0
MAX_RETRY_AFTER = 3600.0  # a longer Retry-After is read as an hour
_SCOPE = re.compile(r"\b[a-z][a-z-]*\.read(?:only|write)\b")
_CREDENTIALS = "check LUCCA_CLIENT_ID / LUCCA_CLIENT_SECRET"

M = TypeVar("M", bound=BaseModel)


def document(
    response: httpx.Response, where: str, *, scope: str | None = None, created: bool = False
) -> dict[str, Any]:
    """The JSON document of a success (with `created`, of a 201 too), or the error the status
    stands for; a 403 names `scope`, the one the request needs, when Lucca names none."""
    status = response.status_code
    if created and status == 201:
        body = _json_object(response)
        if not body:
            raise Invalid(f"Lucca answered {where} with no JSON object", service="lucca")
        return body
    if status == 200:
        try:
            body = response.json()
        except ValueError as err:
            raise Invalid(f"Lucca answered {where} with no JSON", service="lucca") from err
        if not isinstance(body, dict):
            raise Invalid(f"Lucca answered {where} with no JSON object", service="lucca")
        return body
    detail = _problem_detail(response)
    if status == 429:
        retry_after = _retry_after(response)
        message = f"Lucca rate-limited {where}: retry after {retry_after:g} s"
        raise Throttled(message, retry_after=retry_after, service="lucca")
    if status == 401:
        message = f"Lucca refused a fresh access token for {where} (401): {_CREDENTIALS}"
        raise Denied(message, service="lucca", status=status)
    if status == 403:
        raise Denied(_forbidden(where, detail, scope), service="lucca", status=status)
    if status == 404:
        message = f"Lucca answered 404 to {where}: no such object, or the API client may not see it"
        raise NotFound(message, service="lucca", status=status)
    if status == 408 or status >= 500:
        raise Transient(f"Lucca failed {where} ({status})", service="lucca", status=status)
    message = f"Lucca refused {where} ({status})" + (f": {detail}" if detail else "")
    raise Invalid(message, service="lucca", status=status)


def granted_token(response: httpx.Response, scopes: tuple[str, ...]) -> tuple[str, float]:
    """The token endpoint's answer: the access token and its lifetime in seconds, or the error
    its status stands for."""
    status = response.status_code
    body = _json_object(response)
    error = str(body.get("error") or "")
    if status == 200 and isinstance(body.get("access_token"), str):
        expires_in = body.get("expires_in")
        lifetime = float(expires_in) if isinstance(expires_in, int | float) else 300.0
        return body["access_token"], lifetime
    if status == 429:
        retry_after = _retry_after(response)
        message = f"Lucca's token endpoint rate-limited us: retry after {retry_after:g} s"
        raise Throttled(message, retry_after=retry_after, service="lucca")
    if status == 408 or status >= 500:
        message = f"Lucca's token endpoint failed ({status})"
        raise Transient(message, service="lucca", status=status)
    if error == "invalid_scope":
        message = (
            f"Lucca refused the scopes {' '.join(scopes)}: grant them to the API client in Lucca"
        )
        raise Denied(message, service="lucca", status=status, code=error)
    if status in (400, 401) and error in ("", "invalid_client", "unauthorized_client"):
        message = f"Lucca refused the API client's credentials: {_CREDENTIALS}"
        raise Denied(message, service="lucca", status=status, code=error or None)
    message = f"Lucca's token endpoint answered {status}" + (f" ({error})" if error else "")
    raise Invalid(message, service="lucca", status=status, code=error or None)


def items(page: dict[str, Any]) -> list[Any]:
    """A collection page's items; `Invalid` when it has none."""
    found = page.get("items")
    if not isinstance(found, list):
        raise Invalid("Lucca answered a collection without items", service="lucca")
    return found


def parse(model: type[M], doc: Any, what: str) -> M:
    """A Lucca document as a model; `Invalid` naming the fields (never their values)."""
    try:
        return model.model_validate(doc)
    except ValidationError as err:
        fields = sorted({".".join(map(str, e["loc"])) or "(document)" for e in err.errors()})
        message = f"Lucca's {what} document lacks or mangles {', '.join(fields)}"
        raise Invalid(message, service="lucca") from err


def _json_object(response: httpx.Response) -> dict[str, Any]:
    """The body as a JSON object; empty when it is not one."""
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _problem_detail(response: httpx.Response) -> str:
    """The `detail` (else `title`) of a problem document, shortened."""
    body = _json_object(response)
    return str(body.get("detail") or body.get("title") or "")[:300]


def _forbidden(where: str, detail: str, scope: str | None) -> str:
    """A 403 as a sentence naming the scope to grant (`scope`: the one the request needs)."""
    named = _SCOPE.search(detail)
    if named:
        return (
            f"Lucca refused {where} (403): the API client lacks the scope {named.group(0)}; "
            "grant it to the API client in Lucca"
        )
    if scope is not None:
        return (
            f"Lucca refused {where} (403): the API client may lack the scope {scope}; "
            "grant it to the API client in Lucca"
        )
    kind = where.removeprefix("GET /lucca-api/").split("/")[0]
    return (
        f"Lucca refused {where} (403): the API client may lack the scope {kind}.readonly, "
        "or may not see this object's business establishment"
    )


def _retry_after(response: httpx.Response) -> float:
    """`Retry-After` in seconds (a number or an HTTP date), 0..3600; 60 when unreadable."""
    value = response.headers.get("Retry-After")
    return retry_after_seconds(value, default=DEFAULT_RETRY_AFTER, cap=MAX_RETRY_AFTER)
