"""The schedule store on Azurite: changes logged as sentences, one transaction per employee,
and a due query that reads only what is due."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from connector.domain.contract_dates import PlannedAction, local_midnight_utc
from connector.storage.schedule import DUE_PARTITION, SCHEDULE_TABLE, ScheduleStore
from connector.storage.tables import Storage

pytestmark = pytest.mark.azurite
PARIS = ZoneInfo("Europe/Paris")
NOW = datetime(2026, 10, 1, 9, 0, tzinfo=UTC)


def disable_after(last_day: date, employment_id: str = "77") -> PlannedAction:
    """The disable for an employment whose last day is `last_day`, in Paris."""
    next_day = last_day + timedelta(days=1)
    return PlannedAction(
        kind="disable",
        at=local_midnight_utc(next_day, PARIS),
        local_day=next_day,
        contract_day=last_day,
        zone="Europe/Paris",
        employment_id=employment_id,
    )


@pytest.fixture
def store(storage: Storage) -> ScheduleStore:
    """A schedule store whose clock reads NOW."""
    return ScheduleStore(storage, clock=lambda: NOW)


def test_scheduling_is_logged_as_a_sentence(store: ScheduleStore) -> None:
    """A new disable → "disable scheduled for 2026-10-25 00:00 Europe/Paris (…)"."""
    [change] = store.replace("416", [disable_after(date(2026, 10, 24))])
    assert change.change == "scheduled"
    assert change.describe() == (
        "disable scheduled for 2026-10-25 00:00 Europe/Paris (last day 2026-10-24, employment 77)"
    )
    [stored] = store.upcoming("416")
    assert stored.at == datetime(2026, 10, 24, 22, 0, tzinfo=UTC)
    assert stored.scheduled_at == NOW


def test_same_plan_again_changes_nothing(store: ScheduleStore) -> None:
    """Re-syncing with the same dates writes nothing and keeps when it was first planned."""
    store.replace("416", [disable_after(date(2026, 10, 24))])
    assert store.replace("416", [disable_after(date(2026, 10, 24))]) == []


@pytest.mark.parametrize(
    ("new_last_day", "expected"),
    [
        (
            date(2026, 10, 20),
            "disable rescheduled from 2026-10-25 00:00 Europe/Paris to 2026-10-21 00:00 "
            "Europe/Paris (last day 2026-10-20, employment 77)",
        ),
        (
            date(2026, 11, 30),
            "disable rescheduled from 2026-10-25 00:00 Europe/Paris to 2026-12-01 00:00 "
            "Europe/Paris (last day 2026-11-30, employment 77)",
        ),
        (None, "disable for 2026-10-25 00:00 Europe/Paris cancelled"),
    ],
    ids=["earlier", "later", "removed"],
)
def test_moved_or_removed_end_date(
    store: ScheduleStore, new_last_day: date | None, expected: str
) -> None:
    """An end date moved earlier or later is rescheduled, a removed one cancelled; the index
    follows, so the old instant is no longer due."""
    store.replace("416", [disable_after(date(2026, 10, 24))])
    planned = [] if new_last_day is None else [disable_after(new_last_day)]
    [change] = store.replace("416", planned)
    assert change.describe() == expected
    assert store.due(datetime(2026, 10, 24, 22, 0, tzinfo=UTC)) == (
        [] if new_last_day != date(2026, 10, 20) else store.upcoming("416")
    )
    assert store.rows_read == (1 if new_last_day == date(2026, 10, 20) else 0)


def test_due_is_never_early(store: ScheduleStore) -> None:
    """A timer firing milliseconds before the instant finds nothing; at the instant it does."""
    store.replace("416", [disable_after(date(2026, 3, 28))])
    instant = datetime(2026, 3, 28, 23, 0, tzinfo=UTC)
    assert store.due(instant - timedelta(milliseconds=3)) == []
    [due] = store.due(instant)
    assert (due.employee_id, due.kind) == ("416", "disable")
    assert store.due(instant + timedelta(days=3)) == [due]  # a missed run is caught up


def test_due_reads_only_what_is_due(store: ScheduleStore) -> None:
    """2,000 scheduled actions, 3 of them due: the due query reads 3 rows."""
    leavers = {"7", "14", "21"}  # last day 2026-10-24: due from 22:00Z
    for employee in map(str, range(200)):
        first = date(2026, 10, 24) if employee in leavers else date(2026, 11, 2)
        planned = [disable_after(first + timedelta(days=30 * n), str(n)) for n in range(10)]
        store.replace(employee, planned)

    due = store.due(datetime(2026, 10, 24, 22, 30, tzinfo=UTC))

    assert sorted(a.employee_id for a in due) == sorted(leavers)
    assert store.rows_read == 3


def test_done_and_failed_attempts(store: ScheduleStore, storage: Storage) -> None:
    """A done action leaves both its row and its index row; failures are counted."""
    store.replace("416", [disable_after(date(2026, 10, 24))])
    [action] = store.upcoming("416")
    assert store.failed_once_more(action) == 1
    [again] = store.upcoming("416")
    assert store.failed_once_more(again) == 2
    store.done(store.upcoming("416")[0])
    assert store.upcoming("416") == []
    assert storage.read(SCHEDULE_TABLE, DUE_PARTITION, action.due_key) is None


def test_stale_index_row_is_ignored_and_dropped(store: ScheduleStore, storage: Storage) -> None:
    """An index row whose action is gone (a crash between the two writes) is not acted on."""
    store.replace("416", [disable_after(date(2026, 10, 24))])
    [action] = store.upcoming("416")
    store.replace("416", [])  # cancelled; suppose its index row had survived:
    entity = {
        "PartitionKey": DUE_PARTITION,
        "RowKey": action.due_key,
        "EmployeeId": "416",
        "ActionKey": action.key,
    }
    storage.on_table(SCHEDULE_TABLE, lambda t: t.upsert_entity(entity))
    assert store.due(datetime(2026, 10, 25, tzinfo=UTC)) == []
    assert storage.read(SCHEDULE_TABLE, DUE_PARTITION, action.due_key) is None


def test_lost_index_row_is_mended_by_the_next_replace(
    store: ScheduleStore, storage: Storage
) -> None:
    """A crash after the employee's rows and before the index row: the next sync (same plan)
    writes the index row again, so the disable is not lost."""
    store.replace("416", [disable_after(date(2026, 10, 24))])
    [action] = store.upcoming("416")
    storage.delete(SCHEDULE_TABLE, DUE_PARTITION, action.due_key)  # as if never written
    assert store.due(datetime(2026, 10, 25, tzinfo=UTC)) == []
    assert store.replace("416", [disable_after(date(2026, 10, 24))]) == []
    assert store.due(datetime(2026, 10, 25, tzinfo=UTC)) == [action]


def test_given_up_action_is_not_planned_again_at_the_same_instant(store: ScheduleStore) -> None:
    """Left for an operator: the next sync's same plan does not bring it back; a new date
    does."""
    store.replace("416", [disable_after(date(2026, 10, 24))])
    [action] = store.upcoming("416")
    store.give_up(action)
    assert store.upcoming("416") == []
    assert store.replace("416", [disable_after(date(2026, 10, 24))]) == []
    assert store.upcoming("416") == []
    assert store.due(datetime(2026, 10, 26, tzinfo=UTC)) == []
    [change] = store.replace("416", [disable_after(date(2026, 10, 31))])
    assert change.change == "scheduled"
