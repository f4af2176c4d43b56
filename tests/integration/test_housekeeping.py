"""The daily housekeeping against Azurite: rows written by the real writers at chosen instants,
then purged by a run whose clock is moved, not slept."""

from __future__ import annotations

import hashlib
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from azure.data.tables import TableServiceClient
from azure.storage.queue import QueueServiceClient

from connector.domain.entries import Action, LogEntry
from connector.domain.notices import Kind, Notice
from connector.domain.scheduled import ScheduledAction
from connector.flows.housekeeping import (
    COUNT_RETENTION,
    JOURNAL_RETENTION,
    Housekeeping,
    HousekeepingReport,
)
from connector.storage.changes import (
    JOURNAL_TABLE,
    ChangeFeed,
    JournalEntry,
    Outcome,
    journal_partition,
)
from connector.storage.log import (
    ATTENTION_PARTITION,
    CONFLICTS_PARTITION,
    LOG_TABLE,
    IntegrationLog,
    day_partition,
    employee_partition,
)
from connector.storage.outbox import Outbox
from connector.storage.outbox_rows import OUTBOX_TABLE
from connector.storage.schedule import (
    ENTERED_ALERT_PREFIX,
    RUNS_PARTITION,
    SCHEDULE_TABLE,
    ScheduleStore,
)
from connector.storage.tables import Storage, StorageUnavailable
from tests.azurite import ACCOUNT, ACCOUNT_KEY

pytestmark = pytest.mark.azurite

NOW = datetime(2026, 11, 26, 3, 30, tzinfo=UTC)  # the default HOUSEKEEPING_TIMER, 03:30 UTC
RETENTION_DAYS = 400


class Clock:
    """A clock the test moves."""

    def __init__(self, moment: datetime) -> None:
        self.now = moment

    def __call__(self) -> datetime:
        return self.now


def housekeeping(storage: Storage, at: datetime = NOW) -> Housekeeping:
    """The housekeeping with the default log retention, its clock at `at`."""
    return Housekeeping(storage, log_retention_days=RETENTION_DAYS, clock=Clock(at))


def keys(storage: Storage, table: str) -> set[tuple[str, str]]:
    """Every (PartitionKey, RowKey) of the table."""
    return storage.on_table(
        table, lambda t: {(r["PartitionKey"], r["RowKey"]) for r in t.list_entities()}
    )


def in_partition(storage: Storage, table: str, partition: str) -> set[str]:
    """The RowKeys of one partition."""
    return {row for p, row in keys(storage, table) if p == partition}


# -- event journal ------------------------------------------------------------------------------
def record(feed: ChangeFeed, name: str, occurred_at: datetime) -> JournalEntry:
    """Journal one event, as the intake does."""
    entry = JournalEntry(
        key=hashlib.sha256(name.encode()).hexdigest(),
        occurred_at=occurred_at,
        topic="employee.updated",
        event_id=name,
        source="https://acme.ilucca.net",
        body_sha256=hashlib.sha256(b"{}").hexdigest(),
        resource_id="42",
        employee_id="42",
        first_received_at=occurred_at,
        deliveries=1,
        outcome=Outcome.QUEUED,
        last_outcome=Outcome.QUEUED,
    )
    feed.record(entry, received_at=occurred_at)
    return entry


def test_journal_keeps_sixty_days_and_purges_the_days_before(storage: Storage) -> None:
    """Days 59 and 60 stay; day 61 and older go, a day of more than 100 rows included."""
    feed = ChangeFeed(storage)
    kept = [
        record(feed, "evt-59", NOW - timedelta(days=59)),
        record(feed, "evt-60", NOW - timedelta(days=60, hours=3)),  # 00:30 on day -60
    ]
    record(feed, "evt-61", NOW - timedelta(days=61))
    record(feed, "evt-61-late", NOW - timedelta(days=60, hours=4))  # 23:30 on day -61
    for n in range(130):  # more than one transaction's worth in one day
        record(feed, f"evt-old-{n}", NOW - timedelta(days=300, minutes=n))

    report = housekeeping(storage).run()

    assert keys(storage, JOURNAL_TABLE) == {(e.partition, e.key) for e in kept}
    assert report.journal_rows == 132
    assert journal_partition(NOW - JOURNAL_RETENTION) == "2026-09-27"  # the first day kept


# -- integration log ----------------------------------------------------------------------------
def entry(
    at: datetime, employee_id: str | None, action: Action, *, observed: bool = False
) -> LogEntry:
    """A log entry (a sentence with no name: the test does not need one)."""
    return LogEntry(
        time=at,
        action=action,
        message=f"{action.value} for employee {employee_id}",
        employee_id=employee_id,
        observed=observed,
    )


OLD = NOW - timedelta(days=RETENTION_DAYS + 1)
RECENT = NOW - timedelta(days=RETENTION_DAYS - 1)


def test_old_log_entries_go_from_every_view_but_open_conflicts(storage: Storage) -> None:
    """An entry past the retention leaves its day, its employee and `attention`; a newer one
    stays everywhere; an open conflict stays whatever its age."""
    log = IntegrationLog(storage)
    log.write(entry(OLD, "42", Action.NOT_IN_LUCCA))  # day + employee + attention
    log.write(entry(OLD, "7", Action.CONFLICT))  # day + employee, opens a conflict
    log.write(entry(OLD, "9", Action.NOT_IN_LUCCA, observed=True))  # no attention copy
    log.write(entry(OLD + timedelta(seconds=1), None, Action.RUN_HELD))  # day + attention
    log.write(entry(RECENT, "42", Action.NOT_IN_LUCCA))
    recent = in_partition(storage, LOG_TABLE, day_partition(RECENT))

    report = housekeeping(storage).run()

    assert in_partition(storage, LOG_TABLE, day_partition(OLD)) == set()
    assert in_partition(storage, LOG_TABLE, employee_partition("42")) == recent
    assert in_partition(storage, LOG_TABLE, ATTENTION_PARTITION) == recent
    assert in_partition(storage, LOG_TABLE, employee_partition("7")) == set()
    assert in_partition(storage, LOG_TABLE, employee_partition("9")) == set()
    assert in_partition(storage, LOG_TABLE, CONFLICTS_PARTITION) == {"7"}
    assert IntegrationLog(storage).open_conflicts()[0].action is Action.CONFLICT
    assert report == HousekeepingReport(log_entries=4, log_rows=3 + 2 + 2 + 2)


def test_log_retention_is_counted_in_whole_utc_days(storage: Storage) -> None:
    """The day exactly `LOG_RETENTION_DAYS` back stays; the day before it goes."""
    log = IntegrationLog(storage)
    edge = NOW - timedelta(days=RETENTION_DAYS, hours=3)  # 00:30 UTC on day -400
    before = NOW - timedelta(days=RETENTION_DAYS, hours=4)  # 23:30 UTC on day -401
    log.write(entry(edge, "1", Action.UPDATED))
    log.write(entry(before, "1", Action.UPDATED))

    report = housekeeping(storage).run()

    assert in_partition(storage, LOG_TABLE, day_partition(edge)) != set()
    assert in_partition(storage, LOG_TABLE, day_partition(before)) == set()
    assert in_partition(storage, LOG_TABLE, employee_partition("1")) == in_partition(
        storage, LOG_TABLE, day_partition(edge)
    )
    assert (report.log_entries, report.log_rows) == (1, 2)


def test_a_run_stopped_midway_is_finished_by_the_next(
    storage: Storage, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Storage failing just before the day rows go: the copies are gone, the day rows stay,
    and the next run finds them and finishes (copies already gone count for nothing)."""
    log = IntegrationLog(storage)
    for n in range(3):
        log.write(entry(OLD + timedelta(minutes=n), str(n), Action.LEFT_FOR_OPERATOR))
    old_day = in_partition(storage, LOG_TABLE, day_partition(OLD))
    real = Housekeeping._transaction
    failed: list[str] = []

    def failing_once(self: Housekeeping, table: str, operations: list[Any]) -> bool:
        partition = operations[0][1]["PartitionKey"]
        if partition.startswith("day-") and not failed:
            failed.append(partition)
            raise StorageUnavailable("storage unreachable (ServiceRequestError)")
        return real(self, table, operations)

    monkeypatch.setattr(Housekeeping, "_transaction", failing_once)

    with pytest.raises(StorageUnavailable):
        housekeeping(storage).run()
    assert in_partition(storage, LOG_TABLE, day_partition(OLD)) == old_day
    assert in_partition(storage, LOG_TABLE, ATTENTION_PARTITION) == set()
    assert in_partition(storage, LOG_TABLE, employee_partition("1")) == set()

    report = housekeeping(storage).run()

    assert failed == [day_partition(OLD)]
    assert keys(storage, LOG_TABLE) == set()
    assert (report.log_entries, report.log_rows) == (3, 3)


# -- outbox -------------------------------------------------------------------------------------
def notice(kind: Kind, employee_id: str, raised_at: datetime, occurrence: str = "") -> Notice:
    """A notice about one employee."""
    return Notice(
        kind=kind,
        employee_id=employee_id,
        name="Ada Lovelace",
        raised_at=raised_at,
        login=f"user{employee_id}@acme.fr",
        object_id=f"object-{employee_id}" if kind is not Kind.NOT_CREATED else None,
        occurrence=occurrence,
    )


def test_outbox_keeps_what_is_waiting_and_drops_what_is_long_finished(storage: Storage) -> None:
    """Settled keys and intents older than 60 days go; a waiting notice, a recent key, a key
    covered by a digest being sent, an "account not created" of a conflict still open, a recent
    intent and the sending window stay."""
    clock = Clock(NOW - timedelta(days=90))
    outbox = Outbox(storage, clock=clock)
    long_ago = NOW - timedelta(days=90)

    sent = notice(Kind.CREATED, "1", long_ago)
    waiting = notice(Kind.DEACTIVATED, "2", long_ago, occurrence="leaves")
    recent = notice(Kind.CREATED, "3", NOW - timedelta(days=10))
    in_digest = notice(Kind.DEACTIVATED, "4", long_ago, occurrence="leaves")
    conflict_open = notice(Kind.NOT_CREATED, "5", long_ago, occurrence="taken")
    conflict_closed = notice(Kind.NOT_CREATED, "6", long_ago, occurrence="taken")
    for n in (sent, waiting, recent, in_digest, conflict_open, conflict_closed):
        assert outbox.put(n)
    for n in (sent, conflict_open, conflict_closed):
        outbox.settle(n.key, state="sent", at=long_ago + timedelta(days=1), operation_id="op")
    outbox.settle(recent.key, state="sent", at=NOW - timedelta(days=10), operation_id="op")
    # A digest that stopped after settling its notice and before its row went.
    outbox.start_digest([in_digest.key], reason="rate")
    outbox.settle(in_digest.key, state="digested", at=long_ago, operation_id="op")
    outbox.record_sent(long_ago)
    IntegrationLog(storage).write(entry(NOW - timedelta(days=1), "5", Action.CONFLICT))
    outbox.intend("7")  # at NOW - 90 days: the sync stopped and never came back
    clock.now = NOW - timedelta(days=59)
    outbox.intend("8")
    before = keys(storage, OUTBOX_TABLE)

    report = housekeeping(storage).run()

    gone = {("outbox", f"key-{sent.key}"), ("outbox", f"key-{conflict_closed.key}")}
    gone.add(("outbox", "intent-7"))
    assert keys(storage, OUTBOX_TABLE) == before - gone
    assert outbox.state(waiting.key) == "waiting"
    assert [w.key for w in outbox.waiting()] == [waiting.key]
    assert outbox.state(in_digest.key) == "digested"
    assert len(outbox.pending_digests()) == 1
    assert outbox.state(conflict_open.key) == "sent"
    assert outbox.intended_at("8") == NOW - timedelta(days=59)
    assert outbox.window()[0]
    assert report == HousekeepingReport(outbox_rows=3)
    # Raised again after the purge, the long-sent notice would be sent again: that is why
    # only keys far older than any redelivery go.
    assert outbox.put(notice(Kind.CREATED, "1", NOW))


def test_outbox_row_written_again_since_it_was_read_is_kept(
    storage: Storage, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An intent rewritten by a sync while the housekeeping decides is not deleted (ETag)."""
    outbox = Outbox(storage, clock=Clock(NOW - timedelta(days=61)))
    outbox.intend("7")
    real = Housekeeping._range
    rewriter = Outbox(storage, clock=Clock(NOW))

    def read_then_rewrite(self: Housekeeping, prefix: str, select: Any = None) -> Any:
        rows = real(self, prefix, select)
        if prefix == "intent-":
            rewriter.intend("7")  # a creation starts now
        return rows

    monkeypatch.setattr(Housekeeping, "_range", read_then_rewrite)

    report = housekeeping(storage).run()

    assert outbox.intended_at("7") == NOW
    assert report.outbox_rows == 0


# -- the daily cap's count rows ------------------------------------------------------------------
def test_count_rows_of_the_daily_cap_keep_a_week(storage: Storage) -> None:
    """The rows counting disables entered and carried out (and the day's alert marker) are
    needed for the local day only: those older than COUNT_RETENTION go, the others stay."""
    schedule = ScheduleStore(storage, clock=Clock(NOW))
    old, recent = NOW - COUNT_RETENTION - timedelta(days=1), NOW - timedelta(days=1)
    for moment, employee in [(old, "7"), (recent, "8")]:
        action = ScheduledAction(
            employee_id=employee,
            kind="disable",
            at=moment + timedelta(days=2),
            local_day=(moment + timedelta(days=2)).date(),
            contract_day=(moment + timedelta(days=1)).date(),
            employment_id="1" + employee,
            zone="Europe/Paris",
            scheduled_at=moment,
        )
        schedule.count_disabled(action, moment)
        schedule.mark_entered_alerted(moment.date())
    schedule.mark_entered_alerted(date(2026, 11, 1))

    report = housekeeping(storage).run()

    assert report.schedule_rows == 3
    assert [row.split("|")[2] for row in in_partition(storage, SCHEDULE_TABLE, "disabled")] == ["8"]
    assert in_partition(storage, SCHEDULE_TABLE, RUNS_PARTITION) == {
        ENTERED_ALERT_PREFIX + str(recent.date())
    }
    assert housekeeping(storage).run().schedule_rows == 0


# -- every table at once ------------------------------------------------------------------------
def test_a_second_run_purges_nothing(storage: Storage) -> None:
    """Run twice on the same day: the second finds nothing; the log line holds counts only."""
    record(ChangeFeed(storage), "evt-old", NOW - timedelta(days=61))
    IntegrationLog(storage).write(entry(OLD, "42", Action.NOT_IN_LUCCA))
    outbox = Outbox(storage, clock=Clock(OLD))
    outbox.intend("42")

    first = housekeeping(storage).run()
    second = housekeeping(storage, NOW + timedelta(hours=1)).run()

    assert first == HousekeepingReport(journal_rows=1, log_entries=1, log_rows=3, outbox_rows=1)
    assert second == HousekeepingReport()
    assert first.summary() == (
        "purged 1 journal rows, 1 log entries (3 rows), 1 outbox rows, 0 count rows"
    )
    assert "42" not in first.summary()


def test_empty_storage_is_fine(storage: Storage) -> None:
    """A new installation: no table yet, nothing purged, no error."""
    assert housekeeping(storage).run() == HousekeepingReport()


def test_storage_unreachable_stops_the_run() -> None:
    """An unreachable account raises `StorageUnavailable` (the timer tries again tomorrow)."""
    connection = (
        f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={ACCOUNT_KEY};"
        f"QueueEndpoint=http://127.0.0.1:9/{ACCOUNT};TableEndpoint=http://127.0.0.1:9/{ACCOUNT};"
    )
    unreachable = Storage(
        table_service=TableServiceClient.from_connection_string(connection, retry_total=0),
        queue_service=QueueServiceClient.from_connection_string(connection, retry_total=0),
    )
    try:
        with pytest.raises(StorageUnavailable):
            housekeeping(unreachable).run()
    finally:
        unreachable.close()


def test_the_daily_timer_purges_with_the_retention_setting(
    load_app: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """The `housekeeping` function, as the host calls it, uses LOG_RETENTION_DAYS and the
    app's clock, and logs one line of counts."""
    from azure.functions.timer import TimerRequest  # noqa: PLC0415

    from tests.conftest import user_function  # noqa: PLC0415

    app = load_app(LOG_RETENTION_DAYS="30")
    now = datetime(2027, 3, 28, 3, 30, tzinfo=UTC)  # the night clocks go forward in Paris
    log = IntegrationLog(app.storage)
    for days, employee in [(31, "7"), (30, "8")]:
        log.write(
            LogEntry(time=now - timedelta(days=days), action=Action.UPDATED,
                     employee_id=employee, message=f"{days} days ago")
        )  # fmt: skip
    app.clock = lambda: now
    with caplog.at_level("INFO"):
        user_function(app, "housekeeping")(TimerRequest(past_due=False))
    assert [e.message for e in log.for_employee("7")] == []
    assert [e.message for e in log.for_employee("8")] == ["30 days ago"]
    assert any(
        r.getMessage() == "housekeeping: purged 0 journal rows, 1 log entries (2 rows), "
        "0 outbox rows, 0 count rows"
        for r in caplog.records
    )
