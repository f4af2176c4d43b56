"""Graph's refusals and transport failures as the connector's errors."""

from __future__ import annotations

import re
from typing import Final

import httpx
from azure.core.exceptions import ClientAuthenticationError
from kiota_abstractions.api_error import APIError
from msgraph.generated.models.o_data_errors.main_error import MainError
from msgraph.generated.models.o_data_errors.o_data_error import ODataError

from connector.core.errors import (
    Conflict,
    ConnectorError,
    Denied,
    Invalid,
    NotFound,
    Throttled,
    Transient,
)
from connector.core.net import retry_after_seconds
from connector.entra.graph import retry_after_header

DEFAULT_RETRY_AFTER: Final = 30.0
_CONFLICT = re.compile(r"same value for property (\w+) already exists")


def translate_error(err: Exception) -> ConnectorError | None:
    """The connector's error for a Graph, transport or credential failure; None if not one."""
    if isinstance(err, httpx.TransportError):  # refused, reset, timed out, TLS
        message = f"Microsoft Graph could not be reached ({type(err).__name__}: {err})"
        return Transient(message, service="graph")
    if isinstance(err, TimeoutError):  # the facade's own deadline
        return Transient("Microsoft Graph did not answer in time", service="graph")
    if isinstance(err, ClientAuthenticationError):
        first_line = str(err.message or "").splitlines()[0:1]
        message = (
            "could not get a token for Microsoft Graph: check the Function App's managed "
            f"identity (or the local credentials) ({type(err).__name__}: {''.join(first_line)})"
        )
        return Denied(message, service="graph", code="AuthenticationFailed")
    if not isinstance(err, APIError):
        return None
    status, headers = err.response_status_code, err.response_headers
    main = err.error if isinstance(err, ODataError) else None
    code = main.code if main else None
    message = (main.message if main else None) or err.message or f"HTTP {status}"
    inner = main.inner_error if main else None
    request_id = inner.request_id if inner else None
    if request_id is None and headers:
        request_id = next((v for k, v in headers.items() if k.lower() == "request-id"), None)
    if status == 429:
        retry_after = retry_after_seconds(retry_after_header(headers), default=DEFAULT_RETRY_AFTER)
        return Throttled(
            message, retry_after=retry_after, service="graph", code=code, request_id=request_id
        )
    kind: type[ConnectorError] = Invalid
    if status is None or (status >= 500 and status != 501):
        kind = Transient
    elif status == 404:
        kind = NotFound
    elif status in (401, 403):
        kind = Denied
    elif conflict := _conflict(main, message, status):
        kind, code, message = Conflict, "ObjectConflict", conflict
    error = kind(message, service="graph", status=status, code=code, request_id=request_id)
    if isinstance(error, Transient):
        # A 503 may say how long to wait: the escrow waits at least that long.
        error.retry_after = retry_after_seconds(retry_after_header(headers), default=None)
    return error


def _conflict(main: MainError | None, message: str, status: int) -> str | None:
    """The message of a refusal that is a unique value already held (naming the property),
    None when it is not one."""
    targets = [d.target for d in (main.details or []) if d.code == "ObjectConflict"] if main else []
    found = _CONFLICT.search(message)
    if not (targets or found or status == 409):
        return None
    prop = targets[0] if targets else found.group(1) if found else None
    return f"{message} (property {prop})" if prop and prop not in message else message
