"""The safety rail on the timer's run: a run of sudden deactivations is held.

When more than `MAX_SUDDEN_DEACTIVATIONS` of the due disables were scheduled less than 24 hours
before they fell due, `LeaverRun.run` (connector/flows/leavers.py) acts on none, until an
operator releases exactly that run with `RELEASE_HELD_RUN=<id>` (or
`python -m connector schedule release <id>`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from connector.domain.ports import Schedule
from connector.domain.scheduled import ScheduledAction

SUDDEN_NOTICE = timedelta(hours=24)  # a disable scheduled with less notice is "sudden"
RUN_ID_LENGTH = 12  # hex characters of the held run's id
HELD_LOOKBACK = 50  # newest entries for an operator read to find the last "run held"
HELD_EMPLOYEES_LISTED = 100  # employees named in a "run held" entry's details


def is_sudden(action: ScheduledAction) -> bool:
    """A disable scheduled less than 24 hours before it fell due."""
    return action.kind == "disable" and action.at - action.scheduled_at < SUDDEN_NOTICE


def run_id(disables: Sequence[ScheduledAction]) -> str:
    """A short id of a set of due disables: the same set always gets the same id."""
    keys = "\n".join(sorted(action.due_key for action in disables))
    return hashlib.sha256(keys.encode()).hexdigest()[:RUN_ID_LENGTH]


@dataclass(frozen=True, kw_only=True)
class HoldCheck:
    """The safety rail on what is due now: how many due disables are sudden and not yet
    released, and the id of the run held when they are too many. `LeaverRun.run` acts on it;
    `python -m connector schedule` shows and releases it."""

    disables: list[ScheduledAction]
    sudden: int  # sudden disables not released yet
    max_sudden: int
    released: frozenset[str]

    @property
    def run_id(self) -> str | None:
        """The id of the due disables, if any are due."""
        return run_id(self.disables) if self.disables else None

    @property
    def held_id(self) -> str | None:
        """The id of the run the timer would hold now, or None."""
        return self.run_id if self.sudden > self.max_sudden else None

    @classmethod
    def of(cls, due: Sequence[ScheduledAction], schedule: Schedule, max_sudden: int) -> HoldCheck:
        """The check on `due` (what `ScheduleStore.due(now)` returned)."""
        disables = [a for a in due if a.kind == "disable"]
        released = schedule.released() if any(map(is_sudden, disables)) else frozenset()
        sudden = sum(1 for a in disables if is_sudden(a) and a.due_key not in released)
        return cls(disables=disables, sudden=sudden, max_sudden=max_sudden, released=released)
