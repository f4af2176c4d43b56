"""The operation an invocation runs under: the W3C trace id (Application Insights'
`operation_Id`) and parent span id of the Functions host's `traceparent`, for this thread of
work only, so the integration log entries it writes carry it."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

# https://www.w3.org/TR/trace-context/#traceparent-header: version-traceid-parentid-flags
_TRACEPARENT = re.compile(r"^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")
_INVALID_TRACE = "0" * 32
_INVALID_SPAN = "0" * 16


@dataclass(frozen=True, kw_only=True)
class Operation:
    """One invocation's trace: its id (32 hex digits), its parent span (16) and flags."""

    trace_id: str
    span_id: str
    flags: int = 1


_current: ContextVar[Operation | None] = ContextVar("connector_operation", default=None)


def parse_traceparent(value: str | None) -> Operation | None:
    """The operation of a `traceparent` value; None when it is absent or malformed."""
    match = _TRACEPARENT.match((value or "").strip().lower())
    if match is None or match[1] == "ff":
        return None
    trace_id, span_id = match[2], match[3]
    if trace_id == _INVALID_TRACE or span_id == _INVALID_SPAN:
        return None
    return Operation(trace_id=trace_id, span_id=span_id, flags=int(match[4], 16))


def current_operation() -> Operation | None:
    """The operation this thread of work runs under, if any."""
    return _current.get()


@contextmanager
def operation(traceparent: str | None) -> Iterator[Operation | None]:
    """Run the block under the operation of `traceparent` (none when it is missing), and
    restore the previous one after it: a worker thread reused by the next invocation never
    keeps this one's."""
    token = _current.set(parse_traceparent(traceparent))
    try:
        yield _current.get()
    finally:
        _current.reset(token)
