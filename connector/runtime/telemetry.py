"""Structured telemetry: each integration log entry as one Application Insights trace whose
custom dimensions are its ids (employee, action, outcome, Lucca events, log entry).

The Functions Python worker hands `logging` records to the host without their `extra`, so the
dimensions go out from the worker, through OpenTelemetry's Azure Monitor log exporter
(`azure-monitor-opentelemetry-exporter`, which the Azure Monitor distro wraps, without the
distro's instrumentations). Only the `connector.storage.log.entries` logger is exported,
and while it is, it stops propagating: every other line (the webhook's, the `connector alert:`
warnings the Azure Monitor alert reads) still reaches Application Insights through the host, as
before, and nothing arrives twice. host.json keeps the host's own Application Insights mode:
its OpenTelemetry mode supports only HTTP, Service Bus and Event Hubs triggers, and
`PYTHON_ENABLE_OPENTELEMETRY` would have the host stop forwarding every worker log, the
webhook's included (https://learn.microsoft.com/azure/azure-functions/opentelemetry-howto).

Nothing here imports OpenTelemetry or the exporter at module level: the exporter loads
azure-identity and the OpenTelemetry SDK, which the webhook's cold start must not pay for
(Lucca waits 3 seconds). `function_app.py` calls `configure` from the functions that write
integration log entries (queue and timer triggers), once per worker, before their first entry.

Authentication: with local authentication off on Application Insights, the exporter signs with
the identity named in `APPLICATIONINSIGHTS_AUTHENTICATION_STRING`
(`ClientId=<client id>;Authorization=AAD`), which it reads itself, as the host does:
https://learn.microsoft.com/python/api/overview/azure/monitor-opentelemetry-exporter-readme
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING

from connector.core.operation import current_operation
from connector.storage.dimensions import DIMENSIONS, TELEMETRY_LOGGER

if TYPE_CHECKING:
    from opentelemetry.context import Context
    from opentelemetry.sdk._logs import LoggerProvider

logger = logging.getLogger(__name__)

CONNECTION_SETTING = "APPLICATIONINSIGHTS_CONNECTION_STRING"  # set by infra, read by the host
DEFAULT_SERVICE_NAME = "lucca-entra-connector"  # cloud_RoleName outside Azure


class Telemetry:
    """One exporting pipeline for the entries' records, owned by whoever opened it: `flush`
    sends what is batched, `close` detaches it and shuts its provider down."""

    def __init__(
        self, provider: LoggerProvider | None = None, handler: logging.Handler | None = None
    ) -> None:
        self._provider = provider
        self._handler = handler

    @property
    def enabled(self) -> bool:
        """Whether records are exported (False without a connection string)."""
        return self._handler is not None

    def flush(self, timeout_millis: int = 10_000) -> bool:
        """Export every batched record now; True once they are sent."""
        return self._provider is None or self._provider.force_flush(timeout_millis)

    def close(self) -> None:
        """Stop exporting (what is batched goes first) and let the logger propagate again."""
        global _configured  # noqa: PLW0603 - the process's one pipeline, see `configure`
        with _lock:
            if _configured is self:
                _configured = None
        if self._handler is not None:
            telemetry_logger = logging.getLogger(TELEMETRY_LOGGER)
            telemetry_logger.removeHandler(self._handler)
            if not any(isinstance(h, _DimensionsHandler) for h in telemetry_logger.handlers):
                telemetry_logger.propagate = True
            self._handler = None
        if self._provider is not None:
            self._provider.shutdown()
            self._provider = None


class _DimensionsHandler(logging.Handler):
    """Turns an entry's record into an OpenTelemetry log record: its message as the body, its
    `dimensions` (and nothing else of the record) as the attributes."""

    def __init__(self, provider: LoggerProvider) -> None:
        super().__init__(level=logging.INFO)
        self._logger = provider.get_logger(TELEMETRY_LOGGER)

    def emit(self, record: logging.LogRecord) -> None:
        """Hand the record to the provider's batch (never raises into the caller)."""
        from opentelemetry._logs import SeverityNumber  # noqa: PLC0415 - loaded by now

        try:
            severity = {
                logging.DEBUG: SeverityNumber.DEBUG,
                logging.INFO: SeverityNumber.INFO,
                logging.WARNING: SeverityNumber.WARN,
                logging.ERROR: SeverityNumber.ERROR,
                logging.CRITICAL: SeverityNumber.FATAL,
            }.get(record.levelno, SeverityNumber.INFO)
            attributes = getattr(record, DIMENSIONS, None)
            self._logger.emit(
                context=_trace_context(),
                timestamp=int(record.created * 1e9),
                severity_number=severity,
                severity_text=record.levelname,
                body=record.getMessage(),
                attributes=dict(attributes) if isinstance(attributes, Mapping) else None,
            )
        except Exception:  # a telemetry failure must not fail a sync
            self.handleError(record)


def _trace_context() -> Context | None:
    """The invocation's trace as an OpenTelemetry context (the exporter makes its trace id the
    record's `operation_Id` and its span the `operation_ParentId`); None outside one."""
    current = current_operation()
    if current is None:
        return None
    from opentelemetry import trace  # noqa: PLC0415 - loaded with the exporter by now

    span = trace.NonRecordingSpan(
        trace.SpanContext(
            trace_id=int(current.trace_id, 16),
            span_id=int(current.span_id, 16),
            is_remote=True,
            trace_flags=trace.TraceFlags(current.flags & 0xFF),
        )
    )
    return trace.set_span_in_context(span)


def open_telemetry(
    connection_string: str,
    *,
    service_name: str = DEFAULT_SERVICE_NAME,
    offline_storage: bool = True,
) -> Telemetry:
    """Export the integration log entries' records to the Application Insights resource of
    `connection_string`, through a provider of its own (no OpenTelemetry global is set, so a
    test can open and close one). `offline_storage` keeps failed batches on disk for a retry."""
    from azure.core.pipeline.policies import HttpLoggingPolicy  # noqa: PLC0415 - see above
    from azure.monitor.opentelemetry.exporter import AzureMonitorLogExporter  # noqa: PLC0415
    from opentelemetry.sdk._logs import LoggerProvider  # noqa: PLC0415
    from opentelemetry.sdk._logs.export import BatchLogRecordProcessor  # noqa: PLC0415
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource  # noqa: PLC0415

    # The exporter's own lines (one per batch sent, and its HTTP requests) would reach
    # Application Insights through the host as traces of their own: keep them to problems.
    logging.getLogger("azure.monitor.opentelemetry.exporter").setLevel(logging.WARNING)
    exporter = AzureMonitorLogExporter(
        connection_string=connection_string,
        disable_offline_storage=not offline_storage,
        http_logging_policy=HttpLoggingPolicy(http_logging_level=logging.DEBUG),
    )
    provider = LoggerProvider(resource=Resource.create({SERVICE_NAME: service_name}))
    provider.add_log_record_processor(BatchLogRecordProcessor(exporter))
    handler = _DimensionsHandler(provider)
    telemetry_logger = logging.getLogger(TELEMETRY_LOGGER)
    telemetry_logger.setLevel(logging.INFO)
    telemetry_logger.addHandler(handler)
    telemetry_logger.propagate = False  # the host would forward it again, without dimensions
    return Telemetry(provider, handler)


_configured: Telemetry | None = None
_lock = threading.Lock()


def configure(environ: Mapping[str, str]) -> Telemetry:
    """The process's one pipeline, opened on the first call with
    `APPLICATIONINSIGHTS_CONNECTION_STRING` set; a disabled one without it, or when the exporter
    refuses to start (telemetry never stops a sync)."""
    global _configured  # noqa: PLW0603 - one pipeline per process
    connection_string = environ.get(CONNECTION_SETTING, "").strip()
    if not connection_string:
        return Telemetry()
    with _lock:
        if _configured is None:
            service_name = environ.get("WEBSITE_SITE_NAME") or DEFAULT_SERVICE_NAME
            try:
                _configured = open_telemetry(connection_string, service_name=service_name)
            except Exception as err:  # its type only: the message may quote the value
                logger.warning(
                    "structured telemetry off: the exporter refused to start (%s)",
                    type(err).__name__,
                )
                return Telemetry()
        return _configured
