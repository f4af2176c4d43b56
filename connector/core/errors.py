"""The connector's errors: one small tree, transient or permanent, naming the service.

Each client (Lucca, Graph, storage) translates its SDK's or HTTP library's failures into
these once, at its boundary; the sync decides from the kind alone what to do: wait and retry
(`Throttled`), let the queue retry (`Transient`), or write an entry an administrator can act
on and stop (`Permanent` and its kinds). Messages never hold a secret, a token or a password.
"""

from __future__ import annotations

from typing import Literal

Service = Literal["lucca", "graph", "storage"]


class ConnectorError(Exception):
    """A failure talking to a service."""

    def __init__(
        self,
        message: str,
        *,
        service: Service,
        status: int | None = None,
        code: str | None = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.service: Service = service
        self.status = status
        self.code = code
        self.request_id = request_id


class Transient(ConnectorError):
    """Worth trying again later: a timeout, a connection reset, a 5xx; `retry_after`: the
    seconds the service asked to wait (a 503's Retry-After), None when it did not say;
    `brief`: a replication delay, retried for minutes only (flows/worker.py PATIENCE), not for
    RETRY_WINDOW_HOURS; the last try is told so (`SyncRun.patience_over`) and reports it."""

    def __init__(
        self,
        message: str,
        *,
        service: Service,
        status: int | None = None,
        code: str | None = None,
        request_id: str | None = None,
        retry_after: float | None = None,
        brief: bool = False,
    ) -> None:
        super().__init__(message, service=service, status=status, code=code, request_id=request_id)
        self.retry_after = retry_after
        self.brief = brief


class Throttled(Transient):
    """The service asked us to wait (429): `retry_after` seconds."""

    def __init__(
        self,
        message: str,
        *,
        retry_after: float,
        service: Service,
        code: str | None = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(
            message,
            service=service,
            status=429,
            code=code,
            request_id=request_id,
            retry_after=retry_after,
        )
        self.retry_after: float = retry_after


class Permanent(ConnectorError):
    """Trying again will not help until someone changes something."""


class NotFound(Permanent):
    """The object does not exist (or the caller may not see it)."""


class Denied(Permanent):
    """The caller lacks a permission (Lucca scope, Graph role) or may not touch this object."""


class Conflict(Permanent):
    """A unique value (login, mail) is already held by another object."""


class Invalid(Permanent):
    """The service refused the request's content (400)."""
