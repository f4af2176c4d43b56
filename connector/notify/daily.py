"""What the daily digest lists: tomorrow's starts and leavers, held runs, open conflicts."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from connector.core.clock import utc_now
from connector.domain.entries import Action
from connector.domain.notices import DailyDigest, DailyItem, Who
from connector.domain.scheduled import ScheduledAction
from connector.storage.log import IntegrationLog
from connector.storage.schedule import ScheduleStore

# The daily digest lists at most this many open conflicts, each sentence cut to this length.
DAILY_MAX_CONFLICTS = 40
DAILY_MAX_SENTENCE = 400
# The employees held runs hold, named (one schedule read each), at most this many.
DAILY_MAX_HELD_PEOPLE = 40


class DailyBuilder:
    """What the daily digest lists: the schedule's actions of tomorrow, the runs held in the
    last day, and the open conflicts (one range query each)."""

    def __init__(
        self,
        *,
        schedule: ScheduleStore,
        log: IntegrationLog,
        zone: str,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._schedule = schedule
        self._log = log
        self._zone = zone
        self._clock = clock

    def build(self, start: datetime, end: datetime, day: str) -> DailyDigest:
        """The digest of the local day [start, end)."""
        now = self._clock()
        actions = self._schedule.between(start, end)
        # Who each one is, as the last sync kept it with the schedule (one point read each):
        # never Lucca from this timer; an action planned before that was kept shows the id.
        who = {a.employee_id: self._schedule.who(a.employee_id) for a in actions}
        starts = tuple(_item(a, who[a.employee_id]) for a in actions if a.kind == "enable")
        leavers = tuple(_item(a, who[a.employee_id]) for a in actions if a.kind == "disable")
        held_entries = [
            entry
            for entry in self._log.for_attention()
            if entry.action is Action.RUN_HELD and now - entry.time <= timedelta(days=1)
        ]
        held = tuple(_cut(entry.message) for entry in held_entries)
        held_ids = dict.fromkeys(
            str(employee_id)
            for entry in held_entries
            for employee_id in entry.details.get("employees", ())
        )
        conflicts = tuple(
            DailyItem(
                employee_id=entry.employee_id or "",
                name=entry.name,
                what=_cut(entry.message),
                object_id=entry.object_id,
                login=entry.login,
            )
            for entry in self._log.open_conflicts(limit=DAILY_MAX_CONFLICTS)
        )
        return DailyDigest(
            day=day,
            zone=self._zone,
            raised_at=now,
            starts=starts,
            leavers=leavers,
            held_runs=held,
            held_people=tuple(
                self._held(employee_id) for employee_id in list(held_ids)[:DAILY_MAX_HELD_PEOPLE]
            ),
            conflicts=conflicts,
        )

    def _held(self, employee_id: str) -> DailyItem:
        """An employee a held run holds: who (as the last sync kept it) and the disable."""
        disable = next(
            (a for a in self._schedule.upcoming(employee_id) if a.kind == "disable"), None
        )
        who = self._schedule.who(employee_id)
        return DailyItem(
            employee_id=employee_id,
            name=who.name if who else "",
            what=disable.describe() if disable else "",
            login=who.login if who else None,
        )


def _item(action: ScheduledAction, who: Who | None) -> DailyItem:
    """A start or a leaver, named when the sync kept who they are."""
    return DailyItem(
        employee_id=action.employee_id,
        name=who.name if who else "",
        what=action.describe(),
        login=who.login if who else None,
    )


def _cut(sentence: str) -> str:
    """A sentence cut to `DAILY_MAX_SENTENCE` characters."""
    if len(sentence) <= DAILY_MAX_SENTENCE:
        return sentence
    return sentence[: DAILY_MAX_SENTENCE - 1] + "…"
