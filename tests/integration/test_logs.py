"""Searching the integration log (Azurite), and `GET /api/logs` through the Functions app."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from types import ModuleType
from typing import Any

import azure.functions as func
import pytest

from connector.domain.entries import Action, Change, LogEntry
from connector.storage import tables as store
from connector.storage.log import IntegrationLog
from connector.storage.tables import Storage
from tests.azurite import Azurite
from tests.conftest import AppLoader, app_functions, http_request, user_function

pytestmark = pytest.mark.azurite

NOW = datetime(2026, 11, 4, 10, 0, 0, tzinfo=UTC)


def entry(
    at: datetime,
    action: Action = Action.UPDATED,
    employee_id: str | None = "416",
    *,
    observed: bool = False,
) -> LogEntry:
    """An entry whose message says when it happened (to tell entries apart in failures)."""
    return LogEntry(
        time=at,
        action=action,
        message=f"{action.value} at {at.isoformat()}",
        employee_id=employee_id,
        object_id="9f1c-obj" if employee_id else None,
        observed=observed,
    )


@pytest.fixture
def log(storage: Storage) -> IntegrationLog:
    """The integration log on Azurite, with the clock at NOW."""
    return IntegrationLog(storage, clock=lambda: NOW)


def times(entries: list[LogEntry]) -> list[datetime]:
    """The entries' instants, in the order given."""
    return [e.time for e in entries]


def count_queries(storage: Storage, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record each call `storage` makes on a table (one per partition query)."""
    calls: list[str] = []
    original = storage.on_table

    def counting(name: str, operation: Callable[[Any], Any]) -> Any:
        calls.append(name)
        return original(name, operation)

    monkeypatch.setattr(storage, "on_table", counting)
    return calls


@pytest.mark.parametrize(
    "since",
    [
        NOW - timedelta(days=1),  # a whole second
        datetime(2026, 11, 3, 9, 17, 41, 123_457, tzinfo=UTC),  # microseconds
    ],
)
def test_employee_search_includes_since_and_excludes_a_microsecond_before(
    log: IntegrationLog, since: datetime
) -> None:
    """With an employee, `since` is inclusive: an entry at since is in, one 1 µs older is out,
    and another employee's entries never show."""
    tick = timedelta(microseconds=1)
    for at in (since - tick, since, since + tick, NOW):
        log.write(entry(at))
    log.write(entry(since + timedelta(seconds=1), employee_id="417"))

    found = log.search(employee_id="416", since=since)

    assert times(found) == [NOW, since + tick, since]
    assert {e.employee_id for e in found} == {"416"}


def test_search_without_employee_walks_the_days_newest_first(
    log: IntegrationLog, storage: Storage, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without an employee, entries from today back to since's day, across midnights, newest
    first; one query per day, none before since's day."""
    instants = [NOW - timedelta(hours=h) for h in (0, 5, 11, 23, 30, 49, 60, 80)]
    for index, at in enumerate(instants):
        log.write(entry(at, employee_id=str(400 + index % 3)))
    since = NOW - timedelta(hours=50)  # 2026-11-02 08:00

    queries = count_queries(storage, monkeypatch)
    found = log.search(since=since)

    assert times(found) == [at for at in instants if at >= since]
    assert len(queries) == 3  # 11-04, 11-03, 11-02


def test_search_reads_the_last_seven_days_by_default(log: IntegrationLog) -> None:
    """No `since`: 7 days back from the clock."""
    seven_days = NOW - timedelta(days=7)
    for at in (seven_days - timedelta(seconds=1), seven_days, NOW - timedelta(days=2)):
        log.write(entry(at))

    assert times(log.search()) == [NOW - timedelta(days=2), seven_days]
    assert times(log.search(employee_id="416")) == [NOW - timedelta(days=2), seven_days]


def test_search_filters_on_the_action(log: IntegrationLog) -> None:
    """`action` keeps only that action's entries, with or without an employee."""
    log.write(entry(NOW - timedelta(hours=1), Action.FAILED, "416"))
    log.write(entry(NOW - timedelta(hours=2), Action.UPDATED, "416"))
    log.write(entry(NOW - timedelta(days=1), Action.FAILED, "417"))
    log.write(entry(NOW - timedelta(days=2), Action.CREATION_FAILED, "418"))

    failed = log.search(action=Action.FAILED)
    assert [(e.action, e.employee_id) for e in failed] == [
        (Action.FAILED, "416"),
        (Action.FAILED, "417"),
    ]
    assert [e.employee_id for e in log.search(action=Action.CREATION_FAILED)] == ["418"]
    assert times(log.search(employee_id="417", action=Action.FAILED)) == [NOW - timedelta(days=1)]
    assert log.search(employee_id="417", action=Action.UPDATED) == []


def test_search_stops_at_the_limit(
    log: IntegrationLog, storage: Storage, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`limit` returns the newest entries and stops walking back once they are found."""
    instants = [NOW - timedelta(days=d, minutes=m) for d in range(3) for m in (1, 2, 3)]
    for at in instants:
        log.write(entry(at, employee_id=None))

    queries = count_queries(storage, monkeypatch)
    assert times(log.search(limit=2)) == instants[:2]
    assert len(queries) == 1
    queries.clear()
    assert times(log.search(limit=5)) == instants[:5]
    assert len(queries) == 2
    with pytest.raises(ValueError, match="at least 1"):
        log.search(limit=0)


def test_search_on_an_empty_log(log: IntegrationLog) -> None:
    """A log never written to (no table yet) has no entries."""
    assert log.search() == []
    assert log.search(employee_id="416") == []


def test_entry_as_json() -> None:
    """`to_json`: UTC time with Z, the action's value, changes and event keys as lists."""
    at = datetime(2026, 11, 4, 11, 30, tzinfo=UTC) + timedelta(microseconds=5)
    shown = LogEntry(
        time=at,
        action=Action.UPDATED,
        message="jobTitle changed",
        employee_id="416",
        changes=(Change(attribute="jobTitle", old="Comptable", new="Contrôleuse"),),
        event_keys=("ev-1", "ev-2"),
        request_id="req-7",
        observed=True,
        details={"internal": "not shown"},
        operation_id="0af7651916cd43dd8448eb211c80319c",
    ).to_json()

    assert shown == {
        "time": "2026-11-04T11:30:00.000005Z",
        "action": "updated",
        "employee_id": "416",
        "object_id": None,
        "message": "jobTitle changed",
        "observed": True,
        "changes": [{"attribute": "jobTitle", "old": "Comptable", "new": "Contrôleuse"}],
        "event_keys": ["ev-1", "ev-2"],
        "request_id": "req-7",
        "operation_id": "0af7651916cd43dd8448eb211c80319c",
    }


# --- GET /api/logs ---------------------------------------------------------------------------


@pytest.fixture
def app(load_app: AppLoader) -> ModuleType:
    """The Functions app on Azurite, its clock at NOW."""
    module = load_app()
    module.clock = lambda: NOW  # type: ignore[attr-defined]
    return module


def get_logs(app: ModuleType, **params: str) -> tuple[func.HttpResponse, dict[str, Any]]:
    """GET /api/logs as the Functions host would call it, and its JSON body."""
    logs = user_function(app, "logs")
    response: func.HttpResponse = logs(http_request("GET", params=params))
    return response, json.loads(response.get_body())


def test_logs_function_answers_the_entries_as_json(app: ModuleType) -> None:
    """200 with the filtered entries, their count and the effective `since`."""
    log = IntegrationLog(app.storage)
    log.write(entry(NOW - timedelta(hours=1), Action.FAILED, "416"))
    log.write(entry(NOW - timedelta(hours=2), Action.UPDATED, "416"))
    log.write(entry(NOW - timedelta(hours=3), Action.FAILED, "417"))
    log.write(entry(NOW - timedelta(days=3), Action.FAILED, "416"))

    response, body = get_logs(app, employee="416", action="FAILED", since="2d", code="k")

    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert body["count"] == 1
    assert body["since"] == "2026-11-02T10:00:00Z"
    [shown] = body["entries"]
    assert (shown["time"], shown["action"], shown["employee_id"]) == (
        "2026-11-04T09:00:00Z",
        "failed",
        "416",
    )

    _, everything = get_logs(app)  # 7 days by default, every employee and action
    assert everything["count"] == 4
    _, two = get_logs(app, limit="2")
    assert [e["time"] for e in two["entries"]] == ["2026-11-04T09:00:00Z", "2026-11-04T08:00:00Z"]


def test_logs_function_reads_no_further_back_than_the_retention(load_app: AppLoader) -> None:
    """`since` far back reads only the days LOG_RETENTION_DAYS keeps (one query a day), not
    thousands of empty ones; the answer says from when it read."""
    app = load_app(LOG_RETENTION_DAYS="30")
    app.clock = lambda: NOW  # type: ignore[attr-defined]
    response, body = get_logs(app, since="3000d")
    assert response.status_code == 200
    assert body["since"] == "2026-10-04T10:00:00Z"  # 31 days before NOW: what search reads


@pytest.mark.parametrize(
    ("params", "reason"),
    [
        ({"since": "yesterday"}, "since: 'yesterday' is not a date"),
        ({"since": "0001-01-01T00:00:00+01:00"}, "is out of range"),
        ({"since": "2026-11-01T08:00:00"}, "has no offset"),
        ({"action": "exploded"}, "action: 'exploded' is not one of created, updated"),
        ({"limit": "0"}, "limit: must be at least 1"),
        ({"limit": "ten"}, "limit: 'ten' is not a whole number"),
        ({"emplyee": "416"}, "emplyee: unknown parameter"),
    ],
)
def test_logs_function_refuses_a_bad_parameter(
    app: ModuleType, params: dict[str, str], reason: str
) -> None:
    """400 with a JSON error naming the parameter and what it accepts."""
    response, body = get_logs(app, **params)

    assert response.status_code == 400
    assert response.mimetype == "application/json"
    assert reason in body["error"]


def test_logs_function_answers_503_when_storage_is_unreachable(
    load_app: AppLoader, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Storage down: 503 with a JSON error, not an exception."""
    monkeypatch.setitem(store.WORKER_OPTIONS, "retry_total", 0)
    monkeypatch.setitem(store.WORKER_OPTIONS, "connection_timeout", 1)
    closed = (
        "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=a2V5;"
        "TableEndpoint=http://127.0.0.1:9/devstoreaccount1;"
        "QueueEndpoint=http://127.0.0.1:9/devstoreaccount1;"
    )
    app = load_app(closed)

    response, body = get_logs(app)

    assert response.status_code == 503
    assert "storage unreachable" in body["error"]


def test_logs_function_is_get_only_with_a_function_key(app: ModuleType) -> None:
    """Declared on route `logs`, GET only, auth level FUNCTION (a function key, such as the
    one named `monitoring`)."""
    trigger, output = (json.loads(b) for b in app_functions(app)["logs"].get_raw_bindings())

    assert trigger["type"] == "httpTrigger"
    assert trigger["route"] == "logs"
    assert trigger["methods"] == ["GET"]
    assert trigger["authLevel"] == "FUNCTION"
    assert output["type"] == "http"


def test_an_entry_with_oversized_values_is_stored_whole_with_the_values_cut(
    storage: Storage,
) -> None:
    """40,000-character values (Azure Tables takes 64 KiB a string): the entry is written
    under its day and employee views and reads back whole, each long value cut and marked."""
    huge = "é" + "x" * 40_000
    log = IntegrationLog(storage, clock=lambda: NOW)
    log.write(
        LogEntry(
            time=NOW,
            action=Action.CREATION_FAILED,
            message="Could not create: " + huge,
            employee_id="416",
            changes=(Change(attribute="jobTitle", old=None, new=huge),),
            details={"lucca": huge, "n": 1},
        )
    )

    [by_employee] = log.for_employee("416")
    [by_day] = log.for_day(NOW)
    for stored in (by_employee, by_day):
        assert stored.action is Action.CREATION_FAILED
        assert stored.message.startswith("Could not create: éxxx")
        assert stored.message.endswith(store.CUT_MARKER)
        new = stored.changes[0].new
        assert new is not None and new.startswith("éxxx") and new.endswith(store.CUT_MARKER)
        assert stored.details["lucca"].endswith(store.CUT_MARKER)
        assert stored.details["n"] == 1
        assert len(stored.message) < 40_000


def test_every_table_write_is_bounded(storage: Storage) -> None:
    """A raw upsert through `Storage` of a 100,000-character value and of an entity of 20
    such values (over Azure's 1 MiB an entity) is stored, each value cut with the marker."""
    one = {"PartitionKey": "p", "RowKey": "one", "Value": "v" * 100_000, "Small": "kept"}
    many = {"PartitionKey": "p", "RowKey": "many"} | {f"V{i}": "w" * 30_000 for i in range(20)}
    for entity in (one, many):
        storage.on_table("BoundedProbe", lambda t, e=entity: t.upsert_entity(e))  # type: ignore[misc]

    stored = storage.read("BoundedProbe", "p", "one")
    assert stored is not None and stored["Small"] == "kept"
    assert stored["Value"].startswith("vvv") and stored["Value"].endswith(store.CUT_MARKER)
    assert len(stored["Value"].encode("utf-16-le")) <= store.MAX_STRING_BYTES
    stored = storage.read("BoundedProbe", "p", "many")
    assert stored is not None
    total = sum(len(str(v).encode("utf-16-le")) for v in stored.values())
    assert total <= store.MAX_ENTITY_BYTES
    assert all(str(stored[f"V{i}"]).startswith("www") for i in range(20))


def test_logs_prints_no_control_characters(azurite: Azurite, storage: Storage) -> None:
    """An entry naming `Eve\\x1b[31m Red\\x9b2J`: `logs` prints it without ESC, CSI or BEL."""
    from tests.conftest import base_settings, run_cli  # noqa: PLC0415

    IntegrationLog(storage).write(
        LogEntry(
            time=datetime.now(UTC),
            action=Action.CREATED,
            message="Created Eve\x1b[31m Red\x9b2J\x07 (eve.red@acme.fr)",
            employee_id="416",
        )
    )
    environ = base_settings(azurite.connection_string)

    code, out, err = run_cli(environ, "logs")
    _, text, _ = run_cli(environ, "logs", "--json")

    assert code == 0, err
    assert "Created Eve[31m Red2J (eve.red@acme.fr)" in out
    for shown in (out, err, text):
        assert not any(c in shown for c in ("\x1b", "\x9b", "\x07"))
