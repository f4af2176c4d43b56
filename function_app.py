"""Azure Functions entry points: thin wiring from triggers to the `connector` package."""

from __future__ import annotations

import json
import logging
import os
from datetime import datetime
from typing import TYPE_CHECKING, cast

import azure.functions as func

from connector.core.clock import utc_now
from connector.core.lazy import Lazy
from connector.core.loggers import quiet_http_loggers
from connector.core.operation import operation
from connector.runtime.startup import UNAVAILABLE_BODY, UNAVAILABLE_STATUS, Unconfigured, start
from connector.storage.changes import CHANGES_QUEUE

if TYPE_CHECKING:
    from contextlib import AbstractContextManager

    from connector.core.operation import Operation
    from connector.flows.leavers import LeaverRun
    from connector.flows.worker import ChangeWorker, PoisonHandler
    from connector.notify.run import NotificationRun
    from connector.runtime.build import Clients
    from connector.runtime.telemetry import Telemetry

# Before anything sends a request: no URL with an email in it reaches Application Insights.
quiet_http_loggers()

# Validated once, at start-up, and the storage built (no I/O): the webhook's clients fail fast,
# to answer within Lucca's 3 seconds; the sync's ride out a storage blip. A missing or malformed
# setting does not stop the app (no function registered: the webhook would answer 404, and
# Lucca suspends an endpoint at once on a 404, while no alert line is ever written): every
# function stays registered, checks `unconfigured` first, and says so instead of running.
started = start()
unconfigured = started if isinstance(started, Unconfigured) else None
if not isinstance(started, Unconfigured):
    settings, intake, storage = started.settings, started.intake, started.storage

app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)


def clock() -> datetime:
    """The connector's clock, UTC: what the sync plans with and the timer compares to."""
    return utc_now()


def _now() -> datetime:
    # Looked up at each call, so a test can move the clock of the whole app.
    return clock()


# The functions that write integration log entries declare `context`: the Python worker then
# hands them the invocation's `func.Context` (the annotation must be exactly `func.Context`),
# whose W3C `traceparent` carries the trace id the host's telemetry uses as `operation_Id`.
# Called directly (a test, a script), they get none.
OUTSIDE_THE_HOST = cast("func.Context", None)


def _invocation(context: func.Context | None) -> AbstractContextManager[Operation | None]:
    """Run under the invocation's operation: its entries carry its operation id."""
    trace = getattr(context, "trace_context", None) if context is not None else None
    return operation(getattr(trace, "trace_parent", None))


def _build_clients() -> Clients:
    # Imported here, not above: the webhook's cold start must not pay for Graph and httpx.
    from connector.runtime.build import Clients  # noqa: PLC0415

    return Clients.from_settings(settings, storage)


def _build_telemetry() -> Telemetry:
    # Imported here, not above: the exporter loads OpenTelemetry and azure-identity, which the
    # webhook's cold start must not pay for. Each function that writes integration log entries
    # starts it (through its builder) before its first entry; the webhook writes none.
    from connector.runtime.telemetry import configure  # noqa: PLC0415

    return configure(os.environ)


def _build_worker() -> ChangeWorker:
    _telemetry()
    from connector.runtime.build import build_worker  # noqa: PLC0415

    return build_worker(settings, storage, _clients(), _now)


def _build_leaver_run() -> LeaverRun:
    _telemetry()
    from connector.runtime.build import build_leaver_run  # noqa: PLC0415

    return build_leaver_run(settings, storage, _clients(), _now)


def _build_notification_run() -> NotificationRun:
    _telemetry()
    from connector.runtime.build import build_notification_run  # noqa: PLC0415

    return build_notification_run(settings, storage, _now)


def _build_poison_handler() -> PoisonHandler:
    _telemetry()
    from connector.runtime.build import build_poison_handler  # noqa: PLC0415

    return build_poison_handler(storage)


# Built once per worker, on first use (a cold instance gets a batch of messages at once).
_telemetry = Lazy(_build_telemetry)  # Application Insights' custom dimensions, when configured
_clients = Lazy(_build_clients)
_worker = Lazy(_build_worker)
_leaver_run = Lazy(_build_leaver_run)
_notification_run = Lazy(_build_notification_run)
_poison_handler = Lazy(_build_poison_handler)  # storage only: works when the clients cannot


@app.function_name("lucca_webhook")
@app.route(route="lucca/webhook", methods=["GET", "POST"], auth_level=func.AuthLevel.FUNCTION)
def lucca_webhook(req: func.HttpRequest) -> func.HttpResponse:
    """Lucca's deliveries and its activation handshake."""
    if unconfigured is not None:
        return func.HttpResponse(UNAVAILABLE_BODY, status_code=UNAVAILABLE_STATUS)
    answer = intake.receive(
        method=req.method, params=req.params, headers=req.headers, body=req.get_body()
    )
    return func.HttpResponse(answer.body, status_code=answer.status, mimetype=answer.mimetype)


@app.function_name("logs")
@app.route(route="logs", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
def logs(req: func.HttpRequest) -> func.HttpResponse:
    """The integration log as JSON, filtered as `python -m connector logs` filters it (for a
    function key named `monitoring`, not the master key)."""
    if unconfigured is not None:
        return func.HttpResponse(UNAVAILABLE_BODY, status_code=UNAVAILABLE_STATUS)
    # Imported here, not above: the webhook's cold start does not load the log reader.
    from connector.storage.logquery import logs_answer  # noqa: PLC0415

    status, body = logs_answer(
        storage, req.params, _now(), retention_days=settings.LOG_RETENTION_DAYS
    )
    return func.HttpResponse(
        json.dumps(body, ensure_ascii=False), status_code=status, mimetype="application/json"
    )


@app.function_name("sync_employee")
@app.queue_trigger(arg_name="msg", queue_name=CHANGES_QUEUE, connection="AzureWebJobsStorage")
def sync_employee(msg: func.QueueMessage, context: func.Context = OUTSIDE_THE_HOST) -> None:
    """One queued change: bring the employee's Entra account in step with Lucca."""
    if unconfigured is not None:
        raise unconfigured.refuse("sync_employee")
    with _invocation(context):
        outcome = _worker().handle(msg.get_body().decode())
    logging.info("change %s (try %s): %s", msg.id, msg.dequeue_count, outcome)


@app.function_name("sync_employee_poison")
@app.queue_trigger(
    arg_name="msg", queue_name=f"{CHANGES_QUEUE}-poison", connection="AzureWebJobsStorage"
)
def sync_employee_poison(msg: func.QueueMessage, context: func.Context = OUTSIDE_THE_HOST) -> None:
    """A change that failed every try: a "failed" entry in the integration log."""
    if unconfigured is not None:
        raise unconfigured.refuse("sync_employee_poison")
    with _invocation(context):
        _poison_handler().handle(msg.get_body().decode())
    logging.warning("change %s could not be applied: logged as failed", msg.id)


@app.function_name("deactivate_leavers")
@app.timer_trigger(arg_name="timer", schedule="%SCHEDULE_TIMER%", run_on_startup=False)
def deactivate_leavers(timer: func.TimerRequest, context: func.Context = OUTSIDE_THE_HOST) -> None:
    """Due disables and enables (a missed run is caught up: whatever is due, is done)."""
    if unconfigured is not None:
        unconfigured.alert("deactivate_leavers")
        return
    with _invocation(context):
        report = _leaver_run().run(_now())
    logging.info("leavers run%s: %s", " (past due)" if timer.past_due else "", report.summary())


@app.function_name("send_notifications")
@app.timer_trigger(arg_name="timer", schedule="%NOTIFY_TIMER%", run_on_startup=False)
def send_notifications(timer: func.TimerRequest, context: func.Context = OUTSIDE_THE_HOST) -> None:
    """The outbox's emails, within the sending limits (nothing without NOTIFY_RECIPIENTS)."""
    if unconfigured is not None:
        unconfigured.alert("send_notifications")
        return
    if not settings.notify_recipients:
        return
    with _invocation(context):
        report = _notification_run().run(_now())
    logging.info("notifications%s: %s", " (past due)" if timer.past_due else "", report.summary())


@app.function_name("housekeeping")
@app.timer_trigger(arg_name="timer", schedule="%HOUSEKEEPING_TIMER%", run_on_startup=False)
def housekeeping(timer: func.TimerRequest, context: func.Context = OUTSIDE_THE_HOST) -> None:
    """Once a day: the event journal, the integration log and the finished outbox rows purged
    by age (LOG_RETENTION_DAYS); no account is touched."""
    if unconfigured is not None:
        unconfigured.alert("housekeeping")
        return
    from connector.flows.housekeeping import Housekeeping  # noqa: PLC0415

    with _invocation(context):
        report = Housekeeping(
            storage, log_retention_days=settings.LOG_RETENTION_DAYS, clock=_now
        ).run()
    logging.info("housekeeping%s: %s", " (past due)" if timer.past_due else "", report.summary())


@app.function_name("catch_up")
@app.timer_trigger(arg_name="timer", schedule="%CATCHUP_TIMER%", run_on_startup=False)
def catch_up(timer: func.TimerRequest, context: func.Context = OUTSIDE_THE_HOST) -> None:
    """Every CATCHUP_TIMER: Lucca's events since the last one seen, journaled and queued as the
    webhook does (a lost delivery is applied), then the endpoint's status (an alert when Lucca
    suspends it)."""
    if unconfigured is not None:
        unconfigured.alert("catch_up")
        return
    from connector.runtime.build import run_catch_up  # noqa: PLC0415

    _telemetry()
    with _invocation(context):
        report = run_catch_up(settings, storage, _now)
    logging.info("catch-up%s: %s", " (past due)" if timer.past_due else "", report.summary())


@app.function_name("reconcile_nightly")
@app.timer_trigger(arg_name="timer", schedule="%RECONCILE_TIMER%", run_on_startup=False)
def reconcile_nightly(timer: func.TimerRequest, context: func.Context = OUTSIDE_THE_HOST) -> None:
    """Once a local day at RECONCILE_AT: the whole population reconciled, drift repaired (held
    above RECONCILE_MAX_CHANGES); the other ticks of RECONCILE_TIMER return at once."""
    if unconfigured is not None:
        unconfigured.alert("reconcile_nightly")
        return
    from connector.runtime.build import build_nightly  # noqa: PLC0415

    _telemetry()
    with _invocation(context):
        report = build_nightly(settings, storage, _clients, _now).run()
    logging.info("reconciliation%s: %s", " (past due)" if timer.past_due else "", report.summary())
