"""Who an employee is, kept with their schedule for the daily digest (Azurite)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from connector.domain.contract_dates import PlannedAction
from connector.domain.notices import Who
from connector.storage.schedule import SCHEDULE_TABLE, WHO_ROW, ScheduleStore, employee_partition
from connector.storage.tables import Storage

pytestmark = pytest.mark.azurite

NOW = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
DISABLE = PlannedAction(
    kind="disable",
    at=datetime(2026, 11, 26, 23, 0, tzinfo=UTC),
    local_day=date(2026, 11, 27),
    zone="Europe/Paris",
    employment_id="e61",
    contract_day=date(2026, 11, 26),
)


def etag(storage: Storage, employee_id: str) -> str:
    """The ETag of the employee's `who` row (it changes at each write)."""
    row = storage.read(SCHEDULE_TABLE, employee_partition(employee_id), WHO_ROW)
    assert row is not None
    return str(row.metadata["etag"])


def test_who_is_kept_written_only_when_it_changes_and_left_by_a_replace_without_it(
    storage: Storage,
) -> None:
    """A replace with who keeps it; the same who again writes nothing; a changed login is
    rewritten; the timer's replace (no who) leaves it; an employee never given one has none."""
    schedule = ScheduleStore(storage, clock=lambda: NOW)
    schedule.replace("61", [DISABLE], who=Who("Léa Roux", "lea.roux@acme.fr"))
    assert schedule.who("61") == Who("Léa Roux", "lea.roux@acme.fr")
    first = etag(storage, "61")

    schedule.replace("61", [DISABLE], who=Who("Léa Roux", "lea.roux@acme.fr"))
    assert etag(storage, "61") == first

    schedule.replace("61", [DISABLE], who=Who("Léa Roux", "lea.martin@acme.fr"))
    assert schedule.who("61") == Who("Léa Roux", "lea.martin@acme.fr")
    assert etag(storage, "61") != first

    schedule.replace("61", [DISABLE])
    assert schedule.who("61") == Who("Léa Roux", "lea.martin@acme.fr")
    assert [a.employment_id for a in schedule.upcoming("61")] == ["e61"]
    assert schedule.who("62") is None
