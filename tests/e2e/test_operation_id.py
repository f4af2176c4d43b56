"""Integration log entries carry the operation id of the invocation that wrote them: the one
the exporter puts on that invocation's records (`operation_Id`), so an operator goes from a
failed invocation to its entries and back."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any

import pytest
from azure.functions.queue import QueueMessage

from connector.domain.entries import Action
from connector.domain.messages import ChangeMessage
from tests.conftest import run_cli, user_function
from tests.e2e.conftest import DOMAIN, World
from tests.e2e.test_telemetry import NOW, close_telemetry, entry_traces, exporter_offline, hire
from tests.invocation import HostContext
from tests.sandboxes.appinsights import AppInsightsSandbox

pytestmark = pytest.mark.azurite
__all__ = ["exporter_offline"]  # the autouse fixture, applied here too


@pytest.fixture
def appinsights() -> Iterator[AppInsightsSandbox]:
    """The ingestion endpoint, on a loopback port."""
    with AppInsightsSandbox() as sandbox:
        yield sandbox


@pytest.fixture
def world(make_world: Any, appinsights: AppInsightsSandbox) -> Iterator[World]:
    """The connector wired as in Azure, exporting to the sandbox."""
    world: World = make_world(APPLICATIONINSIGHTS_CONNECTION_STRING=appinsights.connection_string)
    yield world
    close_telemetry(world.app)


def test_an_entry_written_by_a_queued_sync_carries_its_invocations_operation_id(
    world: World, appinsights: AppInsightsSandbox
) -> None:
    """The sync's entry, its Application Insights trace and the invocation share one operation
    id (the W3C trace id of the invocation's `traceparent`); `logs --json` shows it."""
    employee_id, _ = hire(world, "Zoé", "Martin", f"zoe.martin@{DOMAIN}")
    [invocation] = world.host.contexts
    [entry] = world.entries(employee_id)
    assert entry.operation_id == invocation.operation_id
    assert world.app._telemetry.built.flush()
    [trace] = entry_traces(appinsights)
    assert trace.tags["ai.operation.id"] == invocation.operation_id
    assert trace.tags["ai.operation.parentId"] == invocation.span_id
    assert trace.properties["operation_id"] == invocation.operation_id
    environ = {k: v for k, v in os.environ.items() if not k.startswith("APPLICATIONINSIGHTS")}
    code, out, err = run_cli(environ, "logs", "--employee", employee_id, "--json")
    assert code == 0, err
    [shown] = json.loads(out)
    assert shown["operation_id"] == invocation.operation_id


def test_each_invocation_has_its_own_operation_id(world: World) -> None:
    """Two syncs, two invocations: each entry names its own, and a timer's entries name the
    timer's invocation."""
    first, _ = hire(world, "Zoé", "Martin", f"zoe.martin@{DOMAIN}")
    second, _ = hire(world, "Hélène", "Durand", f"helene.durand@{DOMAIN}")
    ids = [context.operation_id for context in world.host.contexts]
    assert len(set(ids)) == 2
    assert [world.entries(first)[0].operation_id, world.entries(second)[0].operation_id] == ids


def test_the_poison_trigger_stamps_its_entry_and_a_direct_call_stamps_none(world: World) -> None:
    """The poison trigger's "failed" entry names its invocation; a later call without a context
    (a test, a script: no host) writes none, rather than the previous invocation's."""
    change = ChangeMessage(
        employee_id="42", event_key="k-9001", topic="employee.updated", queued_at=NOW
    )
    poison = user_function(world.app, "sync_employee_poison")
    context = HostContext("sync_employee_poison")
    poison(QueueMessage(id="m-1", body=change.to_json().encode(), dequeue_count=5), context=context)
    poison(QueueMessage(id="m-2", body=change.to_json().encode(), dequeue_count=5))
    later, first = world.entries("42")
    assert (first.action, first.operation_id) == (Action.FAILED, context.operation_id)
    assert (later.action, later.operation_id) == (Action.FAILED, None)
