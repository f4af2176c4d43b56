"""The timer's work: carry out the enables and disables that are due, safely.

`LeaverRun.run(now)` is one run of `deactivate_leavers` (every `SCHEDULE_TIMER`):

1. It reads what is due (`ScheduleStore.due`): one range query, O(due), never O(employees).
   Nothing due → nothing else is read but the daily "entered" check (below).
2. Safety rails (connector/flows/holds.py): when more than `MAX_SUDDEN_DEACTIVATIONS` of the
   due disables were scheduled less than 24 hours before they fell due (bad data or a bug, not
   a planned month end), or when the due disables would take the day's disables (counted from
   00:00 in the leavers' time zone, carried out ones included) above
   `MAX_DEACTIVATIONS_PER_DAY` whatever their notice, the run is held: it acts on none and
   writes one "run held" entry naming the run's id, a hash of the due disables, and the rail.
   The entry is written once per id: the newest "run held" entry among those an operator must
   act on is the memory (nothing else is stored). An operator releases exactly that run with
   `RELEASE_HELD_RUN=<id>` (or `schedule release <id>`), or fixes the dates in Lucca. Each
   run also checks, with one point read (and, until said, a range read of at most
   `MAX_DEACTIVATIONS_PER_DAY + 1` rows), whether more end dates were entered today than the
   cap: if so, one alerting entry, once per local day.
3. Each employee's due actions run under the employee's lease (busy → the next run retries).
   Only linked accounts are touched. Lucca is read again and the employee re-planned: an
   action is carried out only if the re-plan still makes it the current state at the same
   instant; otherwise the schedule is replaced from the re-plan (moved → rescheduled, gone →
   cancelled; each change logged) and the next run acts on whatever is due then.
4. A disable sets `accountEnabled` false, records that the connector did it, then revokes the
   sign-in sessions (`REVOKE_SESSIONS`). An enable happens only for an account the connector
   itself disabled; an account disabled by someone else stays disabled.
5. Graph's 429 stops the run (the rest waits for the next run); a transient failure leaves the
   action for the next run; a permanent one (a 403 on an admin, say) is logged with what to do
   and tried again at the next runs, then left for an operator after `MAX_ATTEMPTS` runs.

The hold check is connector/flows/holds.py; the actions on an account (points 4 and 5) are
connector/flows/leaver_actions.py.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from connector.core.clock import utc_now
from connector.core.errors import Denied, NotFound, Permanent, Transient
from connector.domain.entries import Action, LogEntry
from connector.domain.links import Link
from connector.domain.ports import (
    AccountSwitch,
    EmployeeReader,
    Leases,
    LinkStore,
    Log,
    Notifications,
    Planner,
    Schedule,
)
from connector.domain.scheduled import ScheduleChange, ScheduledAction
from connector.flows.holds import (
    DAILY_RAIL,
    DEFAULT_MAX_PER_DAY,
    HELD_EMPLOYEES_LISTED,
    SUDDEN_RAIL,
    HoldCheck,
    LocalDay,
    is_sudden,
)
from connector.flows.leaver_actions import LeaverActions, Stop, guard, when
from connector.flows.leaver_report import RunReport
from connector.notify.notifier import DISABLED

if TYPE_CHECKING:
    from connector.domain.contract_dates import AccessPlan, PlannedAction


class LeaverRun:
    """Carries out due enables and disables; one `run` per timer tick."""

    def __init__(
        self,
        *,
        schedule: Schedule,
        planner: Planner,
        lucca: EmployeeReader,
        directory: AccountSwitch,
        links: LinkStore,
        leases: Leases,
        log: Log,
        max_sudden: int = 20,
        max_per_day: int = DEFAULT_MAX_PER_DAY,
        zone: str = "Europe/Paris",
        release_id: str = "",
        revoke_sessions: bool = True,
        observe: bool = False,
        notifier: Notifications = DISABLED,
        clock: Callable[[], datetime] = utc_now,
        stamps: bool = True,
    ) -> None:
        self._observe = observe
        self._schedule = schedule
        self._planner = planner
        self._lucca = lucca
        self._links = links
        self._leases = leases
        self._log = log
        self._max_sudden = max_sudden
        self._max_per_day = max_per_day
        self._zone = zone
        self._release_id = release_id.strip()
        self._clock = clock
        self._accounts = LeaverActions(
            schedule=schedule,
            directory=directory,
            links=links,
            log=log,
            revoke_sessions=revoke_sessions,
            notifier=notifier,
            clock=clock,
            stamps=stamps,
        )

    # -- the run ----------------------------------------------------------------------------
    def run(self, now: datetime | None = None) -> RunReport:
        """Carry out what is due at `now` (default: the clock), unless the run is held."""
        now = self._clock() if now is None else now
        today = LocalDay.of(now, self._zone)
        self._entered_alert(today)
        due = self._schedule.due(now)
        report = RunReport(rows_read=self._schedule.rows_read, due=len(due))
        if not due:
            return report
        if self._observe:
            report.deferred = len(due)  # observe mode: plans only, nothing carried out
            return report
        check = HoldCheck.of(
            due, self._schedule, self._max_sudden, max_per_day=self._max_per_day, today=today
        )
        report.sudden = check.sudden
        released: str | None = None
        if check.held_id is not None:
            report.run_id = check.held_id
            report.rails = tuple(check.rails)
            if report.run_id != self._release_id:
                self._hold(report, check)
                return report
            released = report.run_id
            self._schedule.release([a.due_key for a in check.disables])
        groups: dict[str, list[ScheduledAction]] = {}
        for action in due:  # soonest first, as the index sorts them
            groups.setdefault(action.employee_id, []).append(action)
        for employee_id, actions in groups.items():
            if report.throttled:
                report.deferred += len(actions)
                continue
            before = report.settled
            try:
                self._employee(employee_id, actions, now, report, released)
            except Stop:
                report.throttled = True
                report.deferred += len(actions) - (report.settled - before)
            except Transient as err:
                report.deferred += len(actions) - (report.settled - before)
                report.errors.append(f"employee {employee_id}: {err.service}: {err.message}")
        return report

    # -- the safety rail --------------------------------------------------------------------
    def _hold(self, report: RunReport, check: HoldCheck) -> None:
        """Act on none; say so once per held run (the newest "run held" entry remembers)."""
        report.held = report.due
        held_id = report.run_id
        for entry in self._log.for_attention(limit=1, action=Action.RUN_HELD):
            if entry.details.get("run_id") == held_id:
                return  # already said: no new entry every few minutes
        disables = check.disables
        named = [a for a in disables if a.due_key not in check.released]
        if DAILY_RAIL not in check.rails:
            named = [a for a in named if is_sudden(a)]
        employees = sorted({a.employee_id for a in named})
        message = (
            f"Run held: {check.why()}. No account was changed. Check these employees' end dates "
            f"in Lucca: to release this run set RELEASE_HELD_RUN={held_id} (or `python -m "
            f"connector schedule release {held_id}`, or fix the data in Lucca)."
        )
        details = {
            "run_id": held_id,
            "rails": check.rails,
            "sudden": report.sudden,
            "due_disables": len(disables),
            "due": report.due,
            "max_sudden": self._max_sudden,
            "done_today": check.done_today,
            "max_per_day": self._max_per_day,
            "employees": employees[:HELD_EMPLOYEES_LISTED],
        }
        self._log.write(
            LogEntry(time=self._clock(), action=Action.RUN_HELD, message=message, details=details)
        )

    def _entered_alert(self, today: LocalDay) -> None:
        """One alerting entry a local day when the syncs entered more end dates (disables
        scheduled or moved) than the daily cap: they will fall due, maybe on one day."""
        if self._observe or self._schedule.entered_alerted(today.day):
            return
        cap = self._max_per_day
        employees = self._schedule.entered_between(today.start, today.end, cap + 1)
        if len(employees) <= cap:
            return
        self._log.write(
            LogEntry(
                time=self._clock(),
                action=Action.SCHEDULED,
                message=(
                    f"More than {DAILY_RAIL}={cap} end dates were entered on "
                    f"{today.day:%Y-%m-%d} ({self._zone}): over {cap} disables were scheduled "
                    "or moved in a day. If these departures are not real (a bulk edit, an "
                    "import, a bug), fix the dates in Lucca now; when they fall due, a run "
                    f"taking a day above {cap} disables is held ({SUDDEN_RAIL} holds sudden "
                    "ones) until an operator releases it."
                ),
                details={
                    "entered": len(employees),
                    "day": today.day.isoformat(),
                    "max_per_day": cap,
                    "employees": sorted(set(employees))[:HELD_EMPLOYEES_LISTED],
                },
                alert=True,
            )
        )
        self._schedule.mark_entered_alerted(today.day)

    # -- one employee -----------------------------------------------------------------------
    def _employee(
        self,
        employee_id: str,
        actions: list[ScheduledAction],
        now: datetime,
        report: RunReport,
        released: str | None,
    ) -> None:
        """The employee's due actions, under its lease."""
        token = self._leases.acquire(employee_id)
        if token is None:  # a sync holds it: the next run retries
            report.deferred += len(actions)
            return
        try:
            self._actions(employee_id, actions, now, report, released)
        finally:
            self._leases.release(employee_id, token)

    def _actions(
        self,
        employee_id: str,
        actions: list[ScheduledAction],
        now: datetime,
        report: RunReport,
        released: str | None,
    ) -> None:
        """Linked? Still in Lucca? Still due at the same instant? Then act."""
        link = self._links.of_employee(employee_id)
        if link is None:
            for action in actions:
                self._accounts.entry(
                    action,
                    Action.SKIPPED,
                    f"The {action.kind} due {when(action)} was dropped: employee "
                    f"{employee_id} has no linked account, and the connector only enables or "
                    "disables accounts it has linked.",
                )
                self._schedule.done(action)
                report.skipped += 1
            return
        try:
            employee = guard(lambda: self._lucca.employee(employee_id))
        except NotFound:
            for action in actions:
                self._accounts.entry(
                    action,
                    Action.NOT_IN_LUCCA,
                    f"Lucca no longer shows employee {employee_id} (deleted, or outside the "
                    f"establishments the API client may see): the {action.kind} due "
                    f"{when(action)} was not carried out. Decide whether account "
                    f"{link.object_id} should stay as it is.",
                    link=link,
                )
                self._schedule.done(action)
                report.failed += 1
            return
        except Denied as err:
            # The connector's own Lucca access (an expired secret, a missing scope), not this
            # account: the whole run stops, and nothing is counted against the actions.
            self._log.write(
                LogEntry(
                    time=self._clock(),
                    action=Action.FAILED,
                    message=(
                        f"Lucca refused the timer's reads ({err.message}); no due enable or "
                        "disable was carried out, they wait for the next run."
                    ),
                )
            )
            raise Stop from err
        except Permanent as err:
            for action in actions:
                self._accounts.failed(action, link, err, report, name="")
            return
        plan = guard(lambda: self._planner.plan(employee, now))
        act_on = self._still_due(employee_id, plan, actions)
        stale = [action for action in actions if action is not act_on]
        if stale:
            self._replan(employee_id, plan, act_on, link)
            report.rescheduled += len(stale)
        if act_on is not None:
            name = f"{employee.given_name} {employee.family_name}".strip()
            self._accounts.act(act_on, link, now, report, released, name=name)

    def _still_due(
        self, employee_id: str, plan: AccessPlan, actions: Sequence[ScheduledAction]
    ) -> ScheduledAction | None:
        """The due action the re-plan still makes the current state, at the same instant."""
        current = plan.last
        if current is None:
            return None
        key = self._stored(employee_id, current).key
        return next((a for a in actions if a.key == key and a.at == current.at), None)

    def _replan(
        self,
        employee_id: str,
        plan: AccessPlan,
        act_on: ScheduledAction | None,
        link: Link,
    ) -> None:
        """Make the schedule the re-plan's: what is to come, and the current state if it is
        still pending (its row is there: it was not carried out). Each change is logged."""
        wanted: list[PlannedAction] = list(plan.upcoming)
        current = plan.last
        if current is not None:
            key = self._stored(employee_id, current).key
            if act_on is not None or self._schedule.current(employee_id, key) is not None:
                wanted.insert(0, current)
        for change in self._schedule.replace(employee_id, wanted):
            self._log_change(change, link)

    def _log_change(self, change: ScheduleChange, link: Link) -> None:
        """One "schedule changed" entry."""
        action = change.action
        details: dict[str, Any] = {"change": change.change, "at": action.at.isoformat()}
        if change.before is not None:
            details["before"] = change.before.at.isoformat()
        self._log.write(
            LogEntry(
                time=self._clock(),
                action=Action.SCHEDULED,
                message=f"{change.describe()} (re-planned by the timer from Lucca's dates)",
                employee_id=action.employee_id,
                object_id=link.object_id,
                details=details | {"kind": action.kind, "employment_id": action.employment_id},
            )
        )

    # -- helpers ----------------------------------------------------------------------------
    @staticmethod
    def _stored(employee_id: str, planned: PlannedAction) -> ScheduledAction:
        """A planned action as the schedule stores it (for its key)."""
        return ScheduledAction.planned(employee_id, planned, planned.at)
