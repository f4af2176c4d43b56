"""The timer's actions on a linked account: disable, revoke the sign-in sessions, enable, and
what a failure leaves (points 4 and 5 of connector/flows/leavers.py)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar
from zoneinfo import ZoneInfo

from connector.core.errors import Permanent, Throttled
from connector.domain.entries import Action, LogEntry
from connector.domain.links import Link, operator_unlink, unlinked_sentence
from connector.domain.mapping import anchor
from connector.domain.ports import AccountSwitch, LinkStore, Log, Notifications, Schedule
from connector.domain.scheduled import ScheduledAction
from connector.flows.leaver_reasons import ROLE_HELD, explain, who_failed
from connector.flows.leaver_report import RunReport
from connector.flows.sync_run import held

if TYPE_CHECKING:
    from connector.entra.users import DirectoryUser

T = TypeVar("T")

MAX_ATTEMPTS = 3  # runs a permanently failing action is tried in, before an operator decides
LATE_NOTE = timedelta(hours=1)  # an action carried out later than this says when

REVOKE_ROLE = "User.RevokeSessions.All"


def when(action: ScheduledAction) -> str:
    """`2026-10-25 00:00 Europe/Paris`."""
    return f"{action.local_day:%Y-%m-%d} 00:00 {action.zone}"


def _local(moment: datetime, zone: str) -> str:
    """An instant on the action's clock: `2026-10-28 10:15 Europe/Paris`."""
    return f"{moment.astimezone(ZoneInfo(zone)):%Y-%m-%d %H:%M} {zone}"


SESSIONS_REVOKED = "its sign-in sessions were revoked"


class Stop(Exception):
    """Graph or Lucca throttled the run: the rest waits for the next run."""


def guard(call: Callable[[], T]) -> T:
    """Run a Lucca or Graph call; a 429 stops the whole run."""
    try:
        return call()
    except Throttled as err:
        raise Stop(err.message) from err


class LeaverActions:
    """Carries out one due enable or disable on a linked account, and logs what came of it."""

    def __init__(
        self,
        *,
        schedule: Schedule,
        directory: AccountSwitch,
        links: LinkStore,
        log: Log,
        revoke_sessions: bool,
        notifier: Notifications,
        clock: Callable[[], datetime],
        stamps: bool = True,
    ) -> None:
        self._stamps = stamps  # the employeeId row is owned (connector.domain.links)
        self._notifier = notifier
        self._schedule = schedule
        self._directory = directory
        self._links = links
        self._log = log
        self._revoke = revoke_sessions
        self._clock = clock
        self._seen: DirectoryUser | None = None  # the account as the current action read it

    # -- acting -----------------------------------------------------------------------------
    def act(
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
        self._seen = None
        try:
            if action.kind == "disable":
                self._disable(action, link, now, report, released, name=name)
            else:
                self._enable(action, link, now, report)
        except Permanent as err:
            self.failed(action, link, err, report, name=name)

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
                    f"Account {login} disabled at {when(action)}, after the last day "
                    f"{action.contract_day:%Y-%m-%d} (employment {action.employment_id}): the "
                    f"connector had disabled it already; {sessions}.",
                )
            else:
                sessions = ""  # someone else disabled it: nothing is changed, nor revoked
                kind, message = (
                    Action.UNCHANGED,
                    f"Account {login} was already disabled in Entra (not by the connector): "
                    f"nothing was changed; the disable due {when(action)} counts as done, the "
                    'connector will not enable it, and the "account deactivated" email says '
                    "it was already disabled.",
                )
            self.entry(action, kind, message, link=link, details=details)
            # An earlier run's disable, or someone else's: the email (once per instant).
            self._deactivated_notice(action, link, name, login, sessions)
            self._schedule.done(action)
            report.unchanged += 1
            return
        roles = guard(lambda: self._directory.directory_roles(object_id))
        if roles:
            raise Permanent(
                f"account {login} holds {held(roles)}: the connector never disables an "
                "administrator's account. Disable it by hand in Entra if this person has left "
                "(or remove the role).",
                service="graph",
                code=ROLE_HELD,
            )
        # Recorded first: a run that stops after the PATCH finds it and does not mistake the
        # account for one disabled by someone else; if the PATCH fails, the next sync sees
        # the account enabled and clears the flag.
        self._links.set_disabled_by_connector(action.employee_id, True)
        guard(lambda: self._directory.update_user(object_id, {"accountEnabled": False}))
        self._schedule.count_disabled(action, self._clock())  # the daily cap counts it
        sessions = self._revoke_sessions(object_id)
        self.entry(
            action,
            Action.DEACTIVATED,
            f"Account {login} disabled at {when(action)}, after the last day "
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
        """The "account deactivated" notice; `sessions` empty: it was found already disabled
        by someone else, and nothing was changed."""
        self._notifier.deactivated(
            employee_id=action.employee_id,
            name=name,
            login=login,
            object_id=link.object_id,
            at=action.at,
            zone=action.zone,
            sessions=None if sessions in (SESSIONS_REVOKED, "") else sessions,
            already_disabled=not sessions,
        )

    def _revoke_sessions(self, object_id: str) -> str:
        """Revoke the sign-in sessions if asked to; the sentence saying what happened."""
        if not self._revoke:
            return "its sign-in sessions were left as they are (REVOKE_SESSIONS is off)"
        try:
            guard(lambda: self._directory.revoke_sessions(object_id))
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
        user = guard(lambda: self._directory.get_user(link.object_id))
        if user is None:
            self._gone(action, link, report)
            return None
        self._seen = user
        mark = anchor(link.employee_id)
        why = operator_unlink(link, user.employee_id, mark=mark, stamps=self._stamps)
        if why:  # the anchor cleared or changed in Entra since the last sync: as the sync does
            self._links.unlink(action.employee_id, at=self._clock(), why="employeeId in Entra")
            login = user.user_principal_name or link.object_id
            self.entry(
                action,
                Action.UNLINKED_IN_ENTRA,
                f"The {action.kind} due {when(action)} was not carried out. "
                + unlinked_sentence(link, login, why),
                link=link,
            )
            self._schedule.done(action)
            report.skipped += 1
            return None
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
            self.entry(
                action,
                Action.UNCHANGED,
                f"Account {name} was already enabled: the enable due {when(action)} "
                "counts as done.",
                link=link,
            )
            self._schedule.done(action)
            report.unchanged += 1
            return
        if not link.disabled_by_connector:
            self.entry(
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
        guard(lambda: self._directory.update_user(object_id, {"accountEnabled": True}))
        self._links.set_disabled_by_connector(action.employee_id, False)
        self.entry(
            action,
            Action.ENABLED,
            f"Account {name} enabled at {when(action)}, the first day "
            f"{action.contract_day:%Y-%m-%d} (employment {action.employment_id})"
            f"{self._late(action, now)}.",
            link=link,
        )
        self._schedule.done(action)
        report.enabled += 1

    def _gone(self, action: ScheduledAction, link: Link, report: RunReport) -> None:
        """The linked account no longer exists: nothing to enable or disable."""
        self.entry(
            action,
            Action.SKIPPED,
            f"The linked account {link.object_id} no longer exists in Entra: the "
            f"{action.kind} due {when(action)} has nothing to act on.",
            link=link,
        )
        self._schedule.done(action)
        report.skipped += 1

    # -- failures ---------------------------------------------------------------------------
    def failed(
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
        reason = explain(err, action.kind, self._directory)
        details: dict[str, Any] = {"attempts": attempts, "max_attempts": MAX_ATTEMPTS}
        if attempts < MAX_ATTEMPTS:
            self.entry(
                action,
                failure,
                f"The {action.kind} due {when(action)} failed: {reason} It is tried again "
                f"at the next run (attempt {attempts} of {MAX_ATTEMPTS}).",
                link=link,
                details=details,
                request_id=err.request_id,
            )
            report.failed += 1
            return
        self.entry(
            action,
            failure,
            f"The {action.kind} due {when(action)} failed: {reason} "
            f"(attempt {attempts} of {MAX_ATTEMPTS}).",
            link=link,
            details=details,
            request_id=err.request_id,
        )
        state = "enabled" if action.kind == "disable" else "disabled"
        self.entry(
            action,
            Action.LEFT_FOR_OPERATOR,
            f"The {action.kind} due {when(action)} failed in {attempts} runs and is no "
            f"longer tried: account {link.object_id} is still {state}. An operator must "
            f"{action.kind} it by hand (see the previous entries for why it failed).",
            link=link,
            details=details,
            request_id=err.request_id,
        )
        if action.kind == "disable":
            seen = self._seen if self._seen and self._seen.id == link.object_id else None
            name, login = who_failed(name, seen, lambda: self._directory.get_user(link.object_id))
            self._notifier.deactivation_failed(
                employee_id=action.employee_id,
                name=name,
                login=login,
                object_id=link.object_id,
                at=action.at,
                zone=action.zone,
                reason=reason,
            )
        self._schedule.give_up(action)
        report.failed += 1

    # -- helpers ----------------------------------------------------------------------------
    def _late(self, action: ScheduledAction, now: datetime) -> str:
        """`, caught up at …` when the run comes well after the instant (a missed run)."""
        if now - action.at <= LATE_NOTE:
            return ""
        return f", caught up at {_local(now, action.zone)}"

    def entry(
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
