"""The timer's work: carry out the enables and disables that are due, safely.

`LeaverRun.run(now)` is one run of `deactivate_leavers` (every `SCHEDULE_TIMER`):

1. It reads what is due (`ScheduleStore.due`): one range query, O(due), never O(employees).
   Nothing due → nothing else is read.
2. Safety rail: when more than `MAX_SUDDEN_DEACTIVATIONS` of the due disables were scheduled
   less than 24 hours before they fell due (bad data or a bug, not a planned month end), the
   run is held: it acts on none and writes one "run held" entry naming the run's id, a hash of
   the due disables. The entry is written once per id: the newest "run held" entry among
   those an operator must act on is the memory (nothing else is stored). An operator releases
   exactly that run with `RELEASE_HELD_RUN=<id>`, or fixes the dates in Lucca.
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
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar
from zoneinfo import ZoneInfo

from connector.core.clock import utc_now
from connector.core.errors import ConnectorError, Denied, NotFound, Permanent, Throttled, Transient
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
from connector.notify.notifier import DISABLED

if TYPE_CHECKING:
    from connector.domain.contract_dates import AccessPlan, PlannedAction
    from connector.entra.directory import DirectoryUser

T = TypeVar("T")

SUDDEN_NOTICE = timedelta(hours=24)  # a disable scheduled with less notice is "sudden"
MAX_ATTEMPTS = 3  # runs a permanently failing action is tried in, before an operator decides
RUN_ID_LENGTH = 12  # hex characters of the held run's id
HELD_LOOKBACK = 50  # newest entries for an operator read to find the last "run held"
LATE_NOTE = timedelta(hours=1)  # an action carried out later than this says when
HELD_EMPLOYEES_LISTED = 100  # employees named in a "run held" entry's details

# Graph application permissions that may enable and disable accounts, least privileged first.
ENABLE_DISABLE_ROLE = "User.EnableDisableAccount.All"
ENABLE_DISABLE_ROLES = frozenset(
    {ENABLE_DISABLE_ROLE, "User.ReadWrite.All", "Directory.ReadWrite.All"}
)
REVOKE_ROLE = "User.RevokeSessions.All"


@dataclass(kw_only=True)
class RunReport:
    """What one run did, for the timer's log line (counts of due actions)."""

    rows_read: int = 0  # index rows the due query read: the run's cost
    due: int = 0  # actions due (stale index rows dropped)
    disabled: int = 0
    enabled: int = 0
    unchanged: int = 0  # already in the wanted state: done without a write
    rescheduled: int = 0  # moved or cancelled by the re-plan: not acted on
    skipped: int = 0  # not linked, not the connector's to enable, or the employee was busy
    failed: int = 0  # permanent failures, logged (tried again, or left for an operator)
    deferred: int = 0  # left for the next run: transient failure, throttled, busy
    held: int = 0  # not acted on because the run was held
    sudden: int = 0  # due disables scheduled less than 24 hours before their instant
    run_id: str | None = None  # the id of a held (or released) run
    throttled: bool = False  # a 429 stopped the run
    errors: list[str] = field(default_factory=list)  # transient failures, one line each

    @property
    def acted(self) -> int:
        """Accounts changed (disabled or enabled)."""
        return self.disabled + self.enabled

    @property
    def settled(self) -> int:
        """Due actions this run has decided on, one way or another."""
        return (
            self.disabled
            + self.enabled
            + self.unchanged
            + self.rescheduled
            + self.skipped
            + self.failed
            + self.deferred
            + self.held
        )

    def summary(self) -> str:
        """One line: `3 due (3 rows read): 2 disabled, 1 enabled, …`."""
        if self.held:
            return (
                f"{self.due} due ({self.rows_read} rows read): run {self.run_id} held, "
                f"{self.sudden} sudden disables"
            )
        line = (
            f"{self.due} due ({self.rows_read} rows read): {self.disabled} disabled, "
            f"{self.enabled} enabled, {self.unchanged} unchanged, {self.rescheduled} "
            f"rescheduled, {self.skipped} skipped, {self.failed} failed, {self.deferred} deferred"
        )
        return line + (" (stopped: throttled)" if self.throttled else "")


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


def _when(action: ScheduledAction) -> str:
    """`2026-10-25 00:00 Europe/Paris`."""
    return f"{action.local_day:%Y-%m-%d} 00:00 {action.zone}"


def _local(moment: datetime, zone: str) -> str:
    """An instant on the action's clock: `2026-10-28 10:15 Europe/Paris`."""
    return f"{moment.astimezone(ZoneInfo(zone)):%Y-%m-%d %H:%M} {zone}"


SESSIONS_REVOKED = "its sign-in sessions were revoked"


class _Stop(Exception):
    """Graph or Lucca throttled the run: the rest waits for the next run."""


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
        release_id: str = "",
        revoke_sessions: bool = True,
        observe: bool = False,
        notifier: Notifications = DISABLED,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._notifier = notifier
        self._observe = observe
        self._schedule = schedule
        self._planner = planner
        self._lucca = lucca
        self._directory = directory
        self._links = links
        self._leases = leases
        self._log = log
        self._max_sudden = max_sudden
        self._release_id = release_id.strip()
        self._revoke = revoke_sessions
        self._clock = clock

    # -- the run ----------------------------------------------------------------------------
    def run(self, now: datetime | None = None) -> RunReport:
        """Carry out what is due at `now` (default: the clock), unless the run is held."""
        now = self._clock() if now is None else now
        due = self._schedule.due(now)
        report = RunReport(rows_read=self._schedule.rows_read, due=len(due))
        if not due:
            return report
        if self._observe:
            report.deferred = len(due)  # observe mode: plans only, nothing carried out
            return report
        check = HoldCheck.of(due, self._schedule, self._max_sudden)
        report.sudden = check.sudden
        released: str | None = None
        if check.held_id is not None:
            report.run_id = check.held_id
            if report.run_id != self._release_id:
                self._hold(report, check.disables)
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
            except _Stop:
                report.throttled = True
                report.deferred += len(actions) - (report.settled - before)
            except Transient as err:
                report.deferred += len(actions) - (report.settled - before)
                report.errors.append(f"employee {employee_id}: {err.service}: {err.message}")
        return report

    # -- the safety rail --------------------------------------------------------------------
    def _hold(self, report: RunReport, disables: Sequence[ScheduledAction]) -> None:
        """Act on none; say so once per held run (the newest "run held" entry remembers)."""
        report.held = report.due
        held_id = report.run_id
        for entry in self._log.for_attention(limit=HELD_LOOKBACK):
            if entry.action is Action.RUN_HELD:
                if entry.details.get("run_id") == held_id:
                    return  # already said: no new entry every few minutes
                break
        employees = sorted({a.employee_id for a in disables if is_sudden(a)})
        self._log.write(
            LogEntry(
                time=self._clock(),
                action=Action.RUN_HELD,
                message=(
                    f"Run held: {report.sudden} of the {len(disables)} disables due were "
                    f"scheduled less than 24 hours before they fell due (more than "
                    f"MAX_SUDDEN_DEACTIVATIONS={self._max_sudden}), the pattern of bad data "
                    "or a bug rather than of a planned departure. No account was changed. "
                    "Check these employees' end dates in Lucca: to release this run set "
                    f"RELEASE_HELD_RUN={held_id} (or fix the data in Lucca)."
                ),
                details={
                    "run_id": held_id,
                    "sudden": report.sudden,
                    "due_disables": len(disables),
                    "due": report.due,
                    "max_sudden": self._max_sudden,
                    "employees": employees[:HELD_EMPLOYEES_LISTED],
                },
            )
        )

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
                self._entry(
                    action,
                    Action.SKIPPED,
                    f"The {action.kind} due {_when(action)} was dropped: employee "
                    f"{employee_id} has no linked account, and the connector only enables or "
                    "disables accounts it has linked.",
                )
                self._schedule.done(action)
                report.skipped += 1
            return
        try:
            employee = self._guard(lambda: self._lucca.employee(employee_id))
        except NotFound:
            for action in actions:
                self._entry(
                    action,
                    Action.NOT_IN_LUCCA,
                    f"Lucca no longer shows employee {employee_id} (deleted, or outside the "
                    f"establishments the API client may see): the {action.kind} due "
                    f"{_when(action)} was not carried out. Decide whether account "
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
            raise _Stop from err
        except Permanent as err:
            for action in actions:
                self._failed(action, link, err, report, name="")
            return
        plan = self._guard(lambda: self._planner.plan(employee, now))
        act_on = self._still_due(employee_id, plan, actions)
        stale = [action for action in actions if action is not act_on]
        if stale:
            self._replan(employee_id, plan, act_on, link)
            report.rescheduled += len(stale)
        if act_on is not None:
            name = f"{employee.given_name} {employee.family_name}".strip()
            self._act(act_on, link, now, report, released, name=name)

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

    # -- acting -----------------------------------------------------------------------------
    def _act(
        self,
        action: ScheduledAction,
        link: Link,
        now: datetime,
        report: RunReport,
        released: str | None,
        *,
        name: str,
    ) -> None:
        """Carry out one action that is still due."""
        try:
            if action.kind == "disable":
                self._disable(action, link, now, report, released, name=name)
            else:
                self._enable(action, link, now, report)
        except Permanent as err:
            self._failed(action, link, err, report, name=name)

    def _disable(
        self,
        action: ScheduledAction,
        link: Link,
        now: datetime,
        report: RunReport,
        released: str | None,
        *,
        name: str,
    ) -> None:
        """Disable the account (already disabled counts as done), then revoke its sessions."""
        object_id = link.object_id
        user = self._account(action, link, report)
        if user is None:
            return
        login = user.user_principal_name or object_id
        details: dict[str, Any] = {"released_run": released} if released else {}
        if user.account_enabled is False:
            if link.disabled_by_connector:
                # Disabled by the connector, as by an earlier run that stopped before revoking
                # the sessions: finish it.
                sessions = self._revoke_sessions(object_id)
                kind, message = (
                    Action.DEACTIVATED,
                    f"Account {login} disabled at {_when(action)}, after the last day "
                    f"{action.contract_day:%Y-%m-%d} (employment {action.employment_id}): the "
                    f"connector had disabled it already; {sessions}.",
                )
            else:
                kind, message = (
                    Action.UNCHANGED,
                    f"Account {login} was already disabled (not by the connector): the disable "
                    f"due {_when(action)} counts as done, and the connector will not enable it.",
                )
            self._entry(action, kind, message, link=link, details=details)
            if kind is Action.DEACTIVATED:  # an earlier run's disable: its email, if not sent
                self._deactivated_notice(action, link, name, login, sessions)
            self._schedule.done(action)
            report.unchanged += 1
            return
        # Recorded first: a run that stops after the PATCH finds it and does not mistake the
        # account for one disabled by someone else; if the PATCH fails, the next sync sees
        # the account enabled and clears the flag.
        self._links.set_disabled_by_connector(action.employee_id, True)
        self._guard(lambda: self._directory.update_user(object_id, {"accountEnabled": False}))
        sessions = self._revoke_sessions(object_id)
        self._entry(
            action,
            Action.DEACTIVATED,
            f"Account {login} disabled at {_when(action)}, after the last day "
            f"{action.contract_day:%Y-%m-%d} (employment {action.employment_id})"
            f"{self._late(action, now)}; {sessions}.",
            link=link,
            details=details,
        )
        # Before the action is settled: a run stopping in between does it again, finds the
        # account disabled by the connector, and raises the same notice (one email).
        self._deactivated_notice(action, link, name, login, sessions)
        self._schedule.done(action)
        report.disabled += 1

    def _deactivated_notice(
        self, action: ScheduledAction, link: Link, name: str, login: str, sessions: str
    ) -> None:
        self._notifier.deactivated(
            employee_id=action.employee_id,
            name=name,
            login=login,
            object_id=link.object_id,
            at=action.at,
            zone=action.zone,
            sessions=None if sessions == SESSIONS_REVOKED else sessions,
        )

    def _revoke_sessions(self, object_id: str) -> str:
        """Revoke the sign-in sessions if asked to; the sentence saying what happened."""
        if not self._revoke:
            return "its sign-in sessions were left as they are (REVOKE_SESSIONS is off)"
        try:
            self._guard(lambda: self._directory.revoke_sessions(object_id))
        except Permanent as err:
            return (
                f"revoking its sign-in sessions was refused ({err.message}): grant "
                f"{REVOKE_ROLE} (or User.ReadWrite.All) and give admin consent"
            )
        return SESSIONS_REVOKED

    def _account(
        self, action: ScheduledAction, link: Link, report: RunReport
    ) -> DirectoryUser | None:
        """The linked account; None (and the action settled as gone) if Entra has none."""
        user = self._guard(lambda: self._directory.get_user(link.object_id))
        if user is None:
            self._gone(action, link, report)
        return user

    def _enable(
        self, action: ScheduledAction, link: Link, now: datetime, report: RunReport
    ) -> None:
        """Enable the account, only if the connector itself disabled it."""
        object_id = link.object_id
        user = self._account(action, link, report)
        if user is None:
            return
        name = user.user_principal_name or object_id
        if user.account_enabled is not False:
            if link.disabled_by_connector:
                self._links.set_disabled_by_connector(action.employee_id, False)
            self._entry(
                action,
                Action.UNCHANGED,
                f"Account {name} was already enabled: the enable due {_when(action)} "
                "counts as done.",
                link=link,
            )
            self._schedule.done(action)
            report.unchanged += 1
            return
        if not link.disabled_by_connector:
            self._entry(
                action,
                Action.SKIPPED,
                f"Account {name} was disabled by someone else, not by the connector: it stays "
                f"disabled on the first day {action.contract_day:%Y-%m-%d}. Enable it by hand "
                "if that is intended.",
                link=link,
            )
            self._schedule.done(action)
            report.skipped += 1
            return
        self._guard(lambda: self._directory.update_user(object_id, {"accountEnabled": True}))
        self._links.set_disabled_by_connector(action.employee_id, False)
        self._entry(
            action,
            Action.ENABLED,
            f"Account {name} enabled at {_when(action)}, the first day "
            f"{action.contract_day:%Y-%m-%d} (employment {action.employment_id})"
            f"{self._late(action, now)}.",
            link=link,
        )
        self._schedule.done(action)
        report.enabled += 1

    def _gone(self, action: ScheduledAction, link: Link, report: RunReport) -> None:
        """The linked account no longer exists: nothing to enable or disable."""
        self._entry(
            action,
            Action.SKIPPED,
            f"The linked account {link.object_id} no longer exists in Entra: the "
            f"{action.kind} due {_when(action)} has nothing to act on.",
            link=link,
        )
        self._schedule.done(action)
        report.skipped += 1

    # -- failures ---------------------------------------------------------------------------
    def _failed(
        self,
        action: ScheduledAction,
        link: Link,
        err: Permanent,
        report: RunReport,
        *,
        name: str,
    ) -> None:
        """Log the failure; try again at the next runs, then leave it to an operator."""
        attempts = self._schedule.failed_once_more(action)
        failure = Action.DEACTIVATION_FAILED if action.kind == "disable" else Action.FAILED
        reason = self._explain(err, action.kind)
        details: dict[str, Any] = {"attempts": attempts, "max_attempts": MAX_ATTEMPTS}
        if attempts < MAX_ATTEMPTS:
            self._entry(
                action,
                failure,
                f"The {action.kind} due {_when(action)} failed: {reason} It is tried again "
                f"at the next run (attempt {attempts} of {MAX_ATTEMPTS}).",
                link=link,
                details=details,
                request_id=err.request_id,
            )
            report.failed += 1
            return
        self._entry(
            action,
            failure,
            f"The {action.kind} due {_when(action)} failed: {reason} "
            f"(attempt {attempts} of {MAX_ATTEMPTS}).",
            link=link,
            details=details,
            request_id=err.request_id,
        )
        state = "enabled" if action.kind == "disable" else "disabled"
        self._entry(
            action,
            Action.LEFT_FOR_OPERATOR,
            f"The {action.kind} due {_when(action)} failed in {attempts} runs and is no "
            f"longer tried: account {link.object_id} is still {state}. An operator must "
            f"{action.kind} it by hand (see the previous entries for why it failed).",
            link=link,
            details=details,
            request_id=err.request_id,
        )
        if action.kind == "disable":
            self._notifier.deactivation_failed(
                employee_id=action.employee_id,
                name=name,
                login=None,
                object_id=link.object_id,
                at=action.at,
                zone=action.zone,
                reason=reason,
            )
        self._schedule.give_up(action)
        report.failed += 1

    def _explain(self, err: Permanent, kind: str) -> str:
        """A permanent failure's sentence, with what to do; Graph's 403 read from the roles
        in the connector's own token."""
        if not (isinstance(err, Denied) and err.service == "graph"):
            return f"{err.service.capitalize()} refused: {err.message}."
        if err.code == "AuthenticationFailed":
            return f"{err.message}."
        try:
            roles = self._directory.granted_roles()
        except ConnectorError:
            roles = None
        if roles is not None and not roles & ENABLE_DISABLE_ROLES:
            return (
                f"Entra refused to {kind} the account: the connector's identity lacks the "
                f"Microsoft Graph permission {ENABLE_DISABLE_ROLE} (or User.ReadWrite.All). "
                "Grant it and give admin consent."
            )
        if roles is not None:
            held = sorted(roles & ENABLE_DISABLE_ROLES)[0]
            return (
                f"Entra refused to {kind} the account although the connector holds {held}: "
                "the account holds a privileged administrator role the connector may not "
                f"change. {kind.capitalize()} it by hand in Entra, or remove the role."
            )
        return (
            f"Entra refused to {kind} the account (Authorization_RequestDenied): either the "
            f"connector's identity lacks {ENABLE_DISABLE_ROLE} (grant it and give admin "
            "consent), or the account holds a privileged administrator role the connector may "
            f"not change ({kind} it by hand in Entra)."
        )

    # -- helpers ----------------------------------------------------------------------------
    @staticmethod
    def _guard(call: Callable[[], T]) -> T:
        """Run a Lucca or Graph call; a 429 stops the whole run."""
        try:
            return call()
        except Throttled as err:
            raise _Stop(err.message) from err

    @staticmethod
    def _stored(employee_id: str, planned: PlannedAction) -> ScheduledAction:
        """A planned action as the schedule stores it (for its key)."""
        return ScheduledAction.planned(employee_id, planned, planned.at)

    def _late(self, action: ScheduledAction, now: datetime) -> str:
        """`, caught up at …` when the run comes well after the instant (a missed run)."""
        if now - action.at <= LATE_NOTE:
            return ""
        return f", caught up at {_local(now, action.zone)}"

    def _entry(
        self,
        action: ScheduledAction,
        kind: Action,
        message: str,
        *,
        link: Link | None = None,
        details: dict[str, Any] | None = None,
        request_id: str | None = None,
    ) -> None:
        """One entry about a due action."""
        self._log.write(
            LogEntry(
                time=self._clock(),
                action=kind,
                message=message,
                employee_id=action.employee_id,
                object_id=link.object_id if link else None,
                request_id=request_id,
                details={
                    "kind": action.kind,
                    "due_at": action.at.isoformat(),
                    "employment_id": action.employment_id,
                    **(details or {}),
                },
            )
        )
