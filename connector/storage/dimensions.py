"""What an integration log entry tells Application Insights: its outcome and its ids, as the
custom dimensions of one trace (the exporter itself is `connector.runtime.telemetry`)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from connector.domain.entries import LogEntry

TELEMETRY_LOGGER = "connector.storage.log.entries"  # the one logger exported, with dimensions
DIMENSIONS = "dimensions"  # the `extra` key that carries them (a dict of str → str)

# What an entry's action amounts to, for counting in Application Insights (`outcome`). An
# observed entry that would have changed something is `observed` instead of `success`.
SUCCESS = "success"
UNCHANGED = "unchanged"
CONFLICT = "conflict"
FAILURE = "failure"
HELD = "held"
OBSERVED = "observed"
OUTCOMES: Mapping[str, str] = {
    "created": SUCCESS,
    "updated": SUCCESS,
    "linked": SUCCESS,
    "restored": SUCCESS,
    "schedule changed": SUCCESS,
    "deactivated": SUCCESS,
    "enabled": SUCCESS,
    "endpoint active again": SUCCESS,
    "reconciled": SUCCESS,
    "unlinked": SUCCESS,
    "linked by an operator": SUCCESS,
    "unchanged": UNCHANGED,
    "skipped": UNCHANGED,
    "out of scope": UNCHANGED,  # SYNC_SCOPE: nothing written (an exit disable: scheduled)
    "conflict": CONFLICT,
    "no longer visible in Lucca": CONFLICT,
    "left for an operator": CONFLICT,
    "unlinked in Entra": CONFLICT,
    "failed": FAILURE,
    "creation failed": FAILURE,
    "deactivation failed": FAILURE,
    "notification failed": FAILURE,
    "catch-up failed": FAILURE,
    "endpoint suspended": FAILURE,
    "run held": HELD,
    "will retry": HELD,
    "reconciliation held": HELD,
}


def outcome(action: str, *, observed: bool = False) -> str:
    """The outcome of an entry's action (`failure` for one this table does not know yet)."""
    result = OUTCOMES.get(action, FAILURE)
    return OBSERVED if observed and result == SUCCESS else result


def dimensions(entry: LogEntry, row: str) -> dict[str, str]:
    """An entry's custom dimensions: ids, the action, its outcome and the names of the
    attributes changed; never a value, a name or the entry's message (they may hold personal
    data)."""
    values = {
        "employee_id": entry.employee_id,
        "action": entry.action.value,
        "outcome": outcome(entry.action.value, observed=entry.observed),
        "observed": "true" if entry.observed else "false",
        "event_ids": ",".join(entry.event_keys),
        "object_id": entry.object_id,
        "request_id": entry.request_id,
        "operation_id": entry.operation_id,
        "changed_attributes": ",".join(change.attribute for change in entry.changes),
        "log_entry": row,
        "log_partition": "day-" + entry.time.astimezone(UTC).strftime("%Y-%m-%d"),
    }
    return {name: value for name, value in values.items() if value}
