"""The `func.Context` the Functions host hands a function that declares `context`: a fresh
W3C trace context per invocation, as the host's own telemetry uses for its `operation_Id`."""

from __future__ import annotations

import secrets
import threading

import azure.functions as func
from azure.functions._abc import RetryContext, TraceContext


class HostTraceContext(TraceContext):
    """One invocation's W3C trace context (`traceparent`, `tracestate`)."""

    def __init__(self, trace_parent: str, trace_state: str = "") -> None:
        self._parent, self._state = trace_parent, trace_state

    @property
    def trace_state(self) -> str:
        """The `tracestate` header value."""
        return self._state

    @property
    def trace_parent(self) -> str:
        """The `traceparent` header value: version, trace id, parent span id, flags."""
        return self._parent

    @property
    def attributes(self) -> dict[str, str]:
        """The host's extra attributes (none here)."""
        return {}


class HostContext(func.Context):
    """What the Python worker builds for each invocation (its `invocation_id`, its trace)."""

    def __init__(self, function_name: str, trace_parent: str | None = None) -> None:
        self._name = function_name
        self._id = secrets.token_hex(16)
        self.operation_id = secrets.token_hex(16)  # the W3C trace id: App Insights' operation_Id
        self.span_id = secrets.token_hex(8)
        parent = trace_parent or f"00-{self.operation_id}-{self.span_id}-01"
        self._trace = HostTraceContext(parent)
        self._local = threading.local

    @property
    def invocation_id(self) -> str:
        """The invocation's id."""
        return self._id

    @property
    def thread_local_storage(self) -> type[threading.local]:
        """The worker's thread-local storage."""
        return self._local

    @property
    def function_name(self) -> str:
        """The function's name."""
        return self._name

    @property
    def function_directory(self) -> str:
        """The app's directory."""
        return "."

    @property
    def trace_context(self) -> TraceContext:
        """The invocation's W3C trace context."""
        return self._trace

    @property
    def retry_context(self) -> RetryContext:
        """No retry policy is declared."""
        raise NotImplementedError

    @property
    def method(self) -> str:
        """Not used by the worker's Python functions."""
        return ""
