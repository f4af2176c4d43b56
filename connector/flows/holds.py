"""The safety rails on the timer's run: a run of sudden deactivations, or one taking a day above
its cap, is held.

Two rails, either of which holds the run (`LeaverRun.run`, connector/flows/leavers.py, acts on
none of the due disables) until an operator releases exactly that run with
`RELEASE_HELD_RUN=<id>` (or `python -m connector schedule release <id>`):
- `MAX_SUDDEN_DEACTIVATIONS`: more of the due disables were scheduled less than 24 hours before
  they fell due (bad data or a bug, not a planned month end);
- `MAX_DEACTIVATIONS_PER_DAY`: the due disables not released yet, added to those carried out
  since 00:00 in the leavers' time zone, are more than the cap, whatever their notice (25 end
  dates set two days ahead are as dangerous as 25 set an hour ahead).
Released disables count for neither rail. A third, softer rail alerts once a day when more end
dates are entered (disables scheduled or moved by the syncs) than the daily cap.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from connector.domain.contract_dates import local_midnight_utc
from connector.domain.ports import Schedule
from connector.domain.scheduled import ScheduledAction

SUDDEN_NOTICE = timedelta(hours=24)  # a disable scheduled with less notice is "sudden"
RUN_ID_LENGTH = 12  # hex characters of the held run's id
HELD_LOOKBACK = 50  # "run held" entries (the newest, one per run) `schedule list` shows
HELD_EMPLOYEES_LISTED = 100  # employees named in a "run held" entry's details
SUDDEN_RAIL = "MAX_SUDDEN_DEACTIVATIONS"
DAILY_RAIL = "MAX_DEACTIVATIONS_PER_DAY"
DEFAULT_MAX_PER_DAY = 20


def is_sudden(action: ScheduledAction) -> bool:
    """A disable scheduled less than 24 hours before it fell due."""
    return action.kind == "disable" and action.at - action.scheduled_at < SUDDEN_NOTICE


def run_id(disables: Sequence[ScheduledAction]) -> str:
    """A short id of a set of due disables: the same set always gets the same id."""
    keys = "\n".join(sorted(action.due_key for action in disables))
    return hashlib.sha256(keys.encode()).hexdigest()[:RUN_ID_LENGTH]


@dataclass(frozen=True, kw_only=True)
class LocalDay:
    """A day in the leavers' time zone, as the UTC instants [start, end) it spans."""

    day: date
    start: datetime
    end: datetime

    @classmethod
    def of(cls, now: datetime, zone: str) -> LocalDay:
        """The local day `now` falls in."""
        tz = ZoneInfo(zone)
        day = now.astimezone(tz).date()
        start = local_midnight_utc(day, tz)
        return cls(day=day, start=start, end=local_midnight_utc(day + timedelta(days=1), tz))


@dataclass(frozen=True, kw_only=True)
class HoldCheck:
    """The safety rails on what is due now: how many due disables are sudden and not yet
    released, how many were carried out today, and the id of the run held when a rail is
    passed. `LeaverRun.run` acts on it; `python -m connector schedule` shows and releases it."""

    disables: list[ScheduledAction]
    sudden: int  # sudden disables not released yet
    max_sudden: int
    released: frozenset[str]
    pending: int = 0  # due disables not released yet
    done_today: int = 0  # disables carried out since 00:00 local
    max_per_day: int = DEFAULT_MAX_PER_DAY

    @property
    def run_id(self) -> str | None:
        """The id of the due disables, if any are due."""
        return run_id(self.disables) if self.disables else None

    @property
    def rails(self) -> list[str]:
        """The settings whose rail the due disables pass (empty: the run goes ahead)."""
        passed = []
        if self.sudden > self.max_sudden:
            passed.append(SUDDEN_RAIL)
        if self.pending and self.done_today + self.pending > self.max_per_day:
            passed.append(DAILY_RAIL)
        return passed

    @property
    def held_id(self) -> str | None:
        """The id of the run the timer would hold now, or None."""
        return self.run_id if self.rails else None

    def why(self) -> str:
        """The sentence saying which rail holds the run: `… (more than …=20)`."""
        said = []
        if SUDDEN_RAIL in self.rails:
            said.append(
                f"{self.sudden} of the {len(self.disables)} disables due were scheduled less "
                f"than 24 hours before they fell due (more than {SUDDEN_RAIL}="
                f"{self.max_sudden}), the pattern of bad data or a bug rather than of a planned "
                "departure"
            )
        if DAILY_RAIL in self.rails:
            said.append(
                f"{self.pending} disables due and {self.done_today} already carried out today "
                f"make more than {DAILY_RAIL}={self.max_per_day} in a day, whatever their notice"
            )
        return "; and ".join(said)

    @classmethod
    def of(
        cls,
        due: Sequence[ScheduledAction],
        schedule: Schedule,
        max_sudden: int,
        *,
        max_per_day: int = DEFAULT_MAX_PER_DAY,
        today: LocalDay | None = None,
    ) -> HoldCheck:
        """The check on `due` (what `ScheduleStore.due(now)` returned), on the local day
        `today` (none: the daily cap is not checked). Reads nothing when no disable is due."""
        disables = [a for a in due if a.kind == "disable"]
        done = schedule.disabled_between(today.start, today.end) if disables and today else 0
        over_day = today is not None and done + len(disables) > max_per_day
        released = schedule.released() if over_day or any(map(is_sudden, disables)) else frozenset()
        sudden = sum(1 for a in disables if is_sudden(a) and a.due_key not in released)
        return cls(
            disables=disables,
            sudden=sudden,
            max_sudden=max_sudden,
            released=released,
            pending=sum(1 for a in disables if a.due_key not in released) if today else 0,
            done_today=done,
            max_per_day=max_per_day,
        )
