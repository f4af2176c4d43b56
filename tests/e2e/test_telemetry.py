"""Structured telemetry: integration log entries reach Application Insights' ingestion (a
loopback sandbox, through the real Azure Monitor exporter) as traces with custom dimensions."""

from __future__ import annotations

import json
import logging
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from azure.functions.queue import QueueMessage

from connector.domain.entries import Action, LogEntry
from connector.domain.messages import ChangeMessage
from connector.runtime.telemetry import Telemetry, open_telemetry
from connector.storage.dimensions import TELEMETRY_LOGGER
from connector.storage.log import LOG_TABLE, IntegrationLog
from connector.storage.tables import Storage
from tests.conftest import WEBHOOK_SECRET, AppLoader, user_function
from tests.e2e.conftest import DOMAIN, LUCCA_CLIENT, World
from tests.sandboxes.appinsights import AppInsightsSandbox, Trace

pytestmark = pytest.mark.azurite
NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)


@pytest.fixture
def appinsights() -> Iterator[AppInsightsSandbox]:
    """The ingestion endpoint, on a loopback port."""
    with AppInsightsSandbox() as sandbox:
        yield sandbox


@pytest.fixture(autouse=True)
def exporter_offline(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The exporter talks to the sandbox only: no Microsoft statsbeat or control plane, no
    managed identity, and its retry files in this test's own directory."""
    monkeypatch.setenv("APPLICATIONINSIGHTS_STATSBEAT_DISABLED_ALL", "true")
    monkeypatch.setenv("APPLICATIONINSIGHTS_CONTROLPLANE_DISABLED", "true")
    monkeypatch.setenv("APPLICATIONINSIGHTS_SDKSTATS_DISABLED", "true")
    monkeypatch.delenv("APPLICATIONINSIGHTS_AUTHENTICATION_STRING", raising=False)
    monkeypatch.delenv("APPLICATIONINSIGHTS_CONNECTION_STRING", raising=False)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))


@pytest.fixture
def pipeline(appinsights: AppInsightsSandbox) -> Iterator[Telemetry]:
    """A pipeline this test owns, to the sandbox, closed after it."""
    telemetry = open_telemetry(appinsights.connection_string, offline_storage=False)
    yield telemetry
    telemetry.close()


@pytest.fixture
def world(make_world: Any, appinsights: AppInsightsSandbox) -> Iterator[World]:
    """The connector wired as in Azure, with Application Insights' connection string set."""
    world: World = make_world(
        APPLICATIONINSIGHTS_CONNECTION_STRING=appinsights.connection_string,
        WEBSITE_SITE_NAME="func-lucca-connector",
    )
    yield world
    close_telemetry(world.app)


def close_telemetry(app: ModuleType) -> None:
    """Shut the app's pipeline down, so no other test exports through it."""
    if app._telemetry.built is not None:
        app._telemetry.built.close()


def hire(world: World, given: str, family: str, email: str) -> tuple[str, list[str]]:
    """Hire in Lucca, deliver the hire's events, run the syncs: (Lucca id, event ids)."""
    before = len(world.lucca.recorded_events())
    employee_id = world.lucca.add_employee(given, family, email)
    events = [str(event["id"]) for event in world.lucca.recorded_events()[before:]]
    world.deliver_all(since=before)
    world.sync()
    return employee_id, events


def entry_traces(sandbox: AppInsightsSandbox) -> list[Trace]:
    """The traces of integration log entries."""
    return [t for t in sandbox.traces() if t.message.startswith("integration log: ")]


class RootRecorder(logging.Handler):
    """What reaches the root logger: the path the Functions worker forwards to the host."""

    def __init__(self) -> None:
        super().__init__(level=logging.INFO)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@pytest.fixture
def forwarded() -> Iterator[RootRecorder]:
    """The messages that reach the root logger during the test."""
    recorder = RootRecorder()
    root = logging.getLogger()
    level = root.level
    root.addHandler(recorder)
    root.setLevel(logging.INFO)
    yield recorder
    root.removeHandler(recorder)
    root.setLevel(level)


def test_a_synced_hire_reaches_application_insights_with_its_dimensions(
    world: World, appinsights: AppInsightsSandbox
) -> None:
    """A hire synced through the Functions app → one trace whose custom dimensions name the
    employee, the action, its outcome, Lucca's event and the log entry's row."""
    employee_id, events = hire(world, "Zoé", "Martin", f"zoe.martin@{DOMAIN}")
    assert world.app._telemetry.built.flush()
    [entry] = world.entries(employee_id)
    [trace] = entry_traces(appinsights)
    assert trace.message == f"integration log: created (employee {employee_id})"
    assert trace.severity_level == 1  # Information
    dims = trace.properties
    assert dims["employee_id"] == employee_id
    assert (dims["action"], dims["outcome"], dims["observed"]) == ("created", "success", "false")
    assert dims["event_ids"] == ",".join(entry.event_keys)
    assert set(dims["event_ids"].split(",")) <= set(events)
    assert dims["object_id"] == entry.object_id
    assert "givenName" in dims["changed_attributes"].split(",")
    assert trace.tags["ai.cloud.role"] == "func-lucca-connector"
    # The row key and partition find the entry in the table.
    row = world.storage.on_table(
        LOG_TABLE, lambda t: t.get_entity(dims["log_partition"], dims["log_entry"])
    )
    assert row["EmployeeId"] == employee_id


def test_no_secret_and_no_name_reaches_application_insights(
    world: World, appinsights: AppInsightsSandbox
) -> None:
    """Whatever the connector sends carries neither a setting's secret nor the employee's
    name or email address."""
    hire(world, "Zoé", "Martin", f"zoe.martin@{DOMAIN}")
    hire(world, "Hélène", "Durand", f"helene.durand@{DOMAIN}")
    assert world.app._telemetry.built.flush()
    assert len(entry_traces(appinsights)) == 2
    sent = "\n".join(json.dumps(e, ensure_ascii=False) for e in appinsights.envelopes)
    for secret in (LUCCA_CLIENT["client_secret"], WEBHOOK_SECRET):
        assert secret not in sent
    for personal in ("Zoé", "Martin", "Hélène", "Durand", "zoe.martin", "helene.durand"):
        assert personal.lower() not in sent.lower()


def test_without_a_connection_string_nothing_is_exported(
    load_app: AppLoader, storage: Storage, forwarded: RootRecorder
) -> None:
    """No APPLICATIONINSIGHTS_CONNECTION_STRING (a local run): the entry's line goes to the
    Functions log like any other, and no exporter starts."""
    app = load_app()
    change = ChangeMessage(
        employee_id="42", event_key="k-9001", topic="employee.updated", queued_at=NOW
    )
    poison = user_function(app, "sync_employee_poison")
    poison(QueueMessage(id="m-1", body=change.to_json().encode(), dequeue_count=5))
    assert app._telemetry.built is not None and not app._telemetry.built.enabled
    assert logging.getLogger(TELEMETRY_LOGGER).propagate
    assert not logging.getLogger(TELEMETRY_LOGGER).handlers
    assert "integration log: failed (employee 42)" in forwarded.messages


@pytest.mark.parametrize(
    ("action", "observed", "outcome"),
    [
        (Action.CREATED, False, "success"),
        (Action.CREATED, True, "observed"),
        (Action.UNCHANGED, False, "unchanged"),
        (Action.CONFLICT, False, "conflict"),
        (Action.CREATION_FAILED, False, "failure"),
        (Action.FAILED, True, "failure"),
        (Action.DEACTIVATED, False, "success"),
        (Action.RUN_HELD, False, "held"),
    ],
)
def test_each_entry_is_one_trace_with_its_outcome(
    storage: Storage,
    pipeline: Telemetry,
    appinsights: AppInsightsSandbox,
    action: Action,
    observed: bool,
    outcome: str,
) -> None:
    """The outcome dimension sorts the actions into a few words for counting."""
    IntegrationLog(storage).write(
        LogEntry(
            time=NOW,
            action=action,
            message="Zoé Martin: a sentence for the administrator.",
            employee_id="42",
            event_keys=("9001", "9002"),
            observed=observed,
        )
    )
    assert pipeline.flush()
    [trace] = entry_traces(appinsights)
    assert trace.properties["outcome"] == outcome
    assert trace.properties["event_ids"] == "9001,9002"
    assert trace.properties["log_partition"] == "day-2026-03-02"
    assert "Zoé" not in json.dumps(trace.raw, ensure_ascii=False)


def test_the_alert_line_still_goes_to_the_functions_log(
    storage: Storage,
    pipeline: Telemetry,
    appinsights: AppInsightsSandbox,
    forwarded: RootRecorder,
) -> None:
    """An entry that alerts keeps its `connector alert:` warning on the ordinary path (what
    the host forwards and the Azure Monitor alert reads); the structured record is exported
    once, and not forwarded as well."""
    IntegrationLog(storage).write(
        LogEntry(time=NOW, action=Action.FAILED, message="Graph refused.", employee_id="42")
    )
    alerts = [m for m in forwarded.messages if m.startswith("connector alert:")]
    assert len(alerts) == 1
    assert alerts[0].startswith("connector alert: failed (employee 42, log entry ")
    assert not [m for m in forwarded.messages if m.startswith("integration log: ")]
    assert pipeline.flush()
    assert [t.message for t in appinsights.traces()] == ["integration log: failed (employee 42)"]


def test_a_closed_pipeline_exports_nothing_more(
    storage: Storage, appinsights: AppInsightsSandbox
) -> None:
    """Closing detaches the pipeline: later entries are not exported (and the logger
    propagates again), so one test's telemetry cannot leak into the next."""
    telemetry = open_telemetry(appinsights.connection_string, offline_storage=False)
    log = IntegrationLog(storage)
    log.write(LogEntry(time=NOW, action=Action.CREATED, message="-", employee_id="1"))
    telemetry.close()
    log.write(LogEntry(time=NOW, action=Action.CREATED, message="-", employee_id="2"))
    assert [t.properties["employee_id"] for t in entry_traces(appinsights)] == ["1"]
    assert logging.getLogger(TELEMETRY_LOGGER).propagate
    assert not logging.getLogger(TELEMETRY_LOGGER).handlers
