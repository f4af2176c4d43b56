"""The reconciliation: the whole population, Lucca against Entra, at go-live and every night.

Reading costs a few requests, never one per employee: Lucca's employees (every status, 100 a
page, employment and job position embedded, through the shared limiter), the directory
(`$select`, the manager expanded) and its deleted users, in pages; links and schedule, a query.

Planning runs the sync itself, in observe mode, on that snapshot: each employee of the
population (active, upcoming, and left within `RECONCILE_LEFT_DAYS`) is matched, compared and
planned by exactly the rules a change from Lucca follows, and nothing is written. On top of
the sync's verdict the reconciliation sees what one employee at a time cannot: an account to
create whose person seems to have an account already under another email (same name: a
likely duplicate, never created by the reconciliation), and Entra accounts carrying an anchor
`lucca-<id>` that Lucca does not know.

Applying runs the real sync (the employee as read, not read again) for what needs it, each
under the employee's lease: to create, to link, to update, or whose schedule differs from the
one stored. Conflicts, likely duplicates and accounts that cannot be created are left to a
person. So `--apply` follows the sync's rules: no account for a deactivated employee, no
account enabled outside the start-date rules, no account linked to another Lucca id touched.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Literal
from zoneinfo import ZoneInfo

from connector.core.errors import ConnectorError, Transient
from connector.domain.access import AccessPlanner
from connector.domain.entries import Action, LogEntry
from connector.domain.mapping import Attribute, anchor
from connector.domain.messages import ChangeMessage
from connector.flows.dates import actions_to_keep
from connector.flows.reconcile_checks import NameIndex, one_employee_per_account, unknown_anchors
from connector.flows.reconcile_report import (
    FROM_ACTION,
    Applied,
    Candidate,
    Finding,
    Report,
    Verdict,
)
from connector.flows.snapshot import (
    Collected,
    RecordingPlanner,
    Snapshot,
    SnapshotDirectory,
    SnapshotLinks,
    SnapshotLucca,
    Stored,
    Unqueued,
    as_utc,
    changed_since,
    read_stored_schedule,
)
from connector.flows.sync import SyncService
from connector.notify.notifier import DISABLED
from connector.storage.changes import ChangeFeed
from connector.storage.lease import EmployeeLeases
from connector.storage.links import Links

if TYPE_CHECKING:
    from connector.entra.directory import GraphDirectory
    from connector.entra.scope import MatchScope
    from connector.entra.users import DirectoryUser
    from connector.flows.login_choice import LoginRule
    from connector.lucca.client import LuccaClient
    from connector.lucca.models import LuccaEmployee
    from connector.storage.tables import Storage

Status = Literal["active", "upcoming", "deactivated"]
STATUSES: tuple[Status, ...] = ("active", "upcoming", "deactivated")
RECONCILE_EVENT = "reconcile"  # the `event_key` prefix of a change the reconciliation queues
Progress = Callable[[str, int, int], None]  # (phase, done, total)


def _silent(phase: str, done: int, total: int) -> None:
    """No progress shown."""


# The endings after which the sync stores the employee's schedule.
_SCHEDULED_AFTER = frozenset({Action.UNCHANGED, Action.UPDATED, Action.LINKED, Action.CREATED})


# -- the reconciliation ------------------------------------------------------------------------
class Reconciliation:
    """Plans (and applies) the reconciliation of the whole population."""

    def __init__(
        self,
        *,
        storage: Storage,
        lucca: LuccaClient,
        directory: GraphDirectory,
        planner: AccessPlanner,
        build_service: Callable[[], SyncService],
        clock: Callable[[], datetime],
        zone: str,
        left_days: int,
        attributes: tuple[Attribute, ...],
        organisation: tuple[str, ...],
        lifecycle_dates: bool,
        sync_upn: bool,
        delay_seconds: int,
        match_scope: MatchScope | None = None,
        logins: LoginRule | None = None,
        match_key: str = "mail",
        restore_deleted: bool = False,  # RESTORE_DELETED_ACCOUNTS: a restore is planned
    ) -> None:
        self._match_scope, self._logins = match_scope, logins  # LOGIN_TEMPLATE: planned too
        self._match_key, self._restore_deleted = match_key, restore_deleted
        self._attributes, self._lifecycle_dates = attributes, lifecycle_dates
        self._organisation_kinds = organisation  # read whole: each is needed for many
        self._sync_upn, self._delay_seconds = sync_upn, delay_seconds
        self._storage = storage
        self._lucca = self.lucca = lucca  # the nightly run reads its slices with it
        self._directory = self.directory = directory  # the nightly run reads by delta with it
        self._planner = planner
        self._build_service = build_service
        self._clock = clock
        self._zone = ZoneInfo(zone)
        self._left_days = self.left_days = left_days

    # -- reading ----------------------------------------------------------------------------
    def read(self, progress: Progress = _silent) -> Snapshot:
        """Lucca's employees, the directory, the links and the schedule, once each."""
        read_at = self._clock()
        employees: dict[str, LuccaEmployee] = {}
        total = [0]  # Lucca's totalCount: the bar shows the time left at the limiter's pace
        for employee in self._lucca.counted_employees(STATUSES, total.append):
            employees[employee.id] = employee
            if len(employees) % 100 == 0 or len(employees) == total[-1]:
                progress("reading Lucca", len(employees), total[-1])
        progress("reading Entra", 0, 0)
        return self.snapshot(employees, read_at=read_at)

    def snapshot(
        self,
        employees: dict[str, LuccaEmployee],
        *,
        read_at: datetime,
        known: frozenset[str] | None = None,
        users: list[DirectoryUser] | None = None,
    ) -> Snapshot:
        """These employees (`known`: ids read elsewhere), with the directory, the links and the
        schedule read now (a slice of the nightly run reads part of Lucca, all of the rest)."""
        for kind in self._organisation_kinds:
            self._lucca.preload(kind)
        return Snapshot(
            read_at=read_at,
            employees=employees,
            users=self._directory.list_users() if users is None else users,
            links=Links(self._storage).all(),
            refused=Links(self._storage).refusals(),
            stored_schedule=read_stored_schedule(self._storage),
            known=known,
        )

    def in_population(self, employee: LuccaEmployee, today: date) -> bool:
        """Active, upcoming, or left within `left_days` (by the last contract day)."""
        if employee.status != "deactivated":
            return True
        end = employee.employment.end if employee.employment is not None else None
        return end is not None and end >= today - timedelta(days=self._left_days)

    # -- planning ---------------------------------------------------------------------------
    def plan(self, snapshot: Snapshot, progress: Progress = _silent) -> Report:
        """Each employee of the population through the sync in observe mode, on the snapshot."""
        now = self._clock()
        today = now.astimezone(self._zone).date()
        everyone = sorted(snapshot.employees.values(), key=lambda e: (len(e.id), e.id))
        population = [e for e in everyone if self.in_population(e, today)]
        progress("reading Lucca", 0, 0)
        lucca = SnapshotLucca(
            snapshot.employees,
            self._lucca,
            self._lucca.employments_of(e.id for e in population if self._needs_employments(e, now)),
        )
        directory = SnapshotDirectory(snapshot.users, self._directory)
        links = SnapshotLinks(snapshot.links, snapshot.refused)
        log = Collected()
        planner = RecordingPlanner(self._planner, lucca)
        service = SyncService(
            lucca=lucca,
            directory=directory,
            feed=Unqueued(),
            links=links,
            log=log,
            attributes=self._attributes,
            planner=planner,
            schedule=None,
            lifecycle_dates=self._lifecycle_dates,
            sync_upn=self._sync_upn,
            observe=True,
            notifier=DISABLED,
            clock=self._clock,
            match_scope=self._match_scope,
            logins=self._logins,
            match_key=self._match_key,
            restore_deleted=self._restore_deleted,
        )
        state = _Pass(
            service=service,
            log=log,
            planner=planner,
            directory=directory,
            names=NameIndex(snapshot, links),
            snapshot=snapshot,
        )
        findings = []
        for done, employee in enumerate(population, start=1):
            findings.append(self._judge(state, employee))
            progress("planning", done, len(population))
        findings = one_employee_per_account(findings)
        findings += [
            f
            for e in everyone
            if e.status == "deactivated" and not self.in_population(e, today)
            for f in [self._left_enabled(e, directory, links)]
            if f is not None
        ]
        return Report(
            read_at=snapshot.read_at,
            findings=findings,
            unknown_anchors=unknown_anchors(snapshot),
            lucca_employees=len(snapshot.employees),
            entra_users=len(snapshot.users),
        )

    def _needs_employments(self, employee: LuccaEmployee, now: datetime) -> bool:
        try:
            return self._planner.needs_employments(employee, now)
        except Exception:  # a bad time zone, say: the plan reports it for this employee
            return False

    def _left_enabled(
        self, employee: LuccaEmployee, directory: SnapshotDirectory, links: SnapshotLinks
    ) -> Finding | None:
        """A leaver older than the window whose account is still enabled: reported only."""
        link = links.of_employee(employee.id)
        linked = directory.get_user(link.object_id) if link else None
        found: list[DirectoryUser] = [linked] if linked is not None else []
        how = "link"
        if not found:
            found, how = directory.find_users("employeeId", anchor(employee.id)), "employeeId"
        if not found and employee.email:
            found, how = directory.find_users("mail", employee.email), "mail"
        mark = anchor(employee.id)
        enabled = [
            u
            for u in found
            if u.account_enabled is not False
            # An address now someone else's (linked to, or anchored for, another employee)
            # is not this leaver's account: naming it would invite disabling the wrong one.
            and links.employee_of(u.id) in (None, employee.id)
            and (u.employee_id or mark) == mark
        ]
        if not enabled:
            return None
        end = employee.employment.end if employee.employment else None
        left = f"left on {end:%Y-%m-%d}" if end else "deactivated in Lucca"
        logins = ", ".join(u.user_principal_name or u.id for u in enabled)
        return Finding(
            employee_id=employee.id,
            name=f"{employee.given_name} {employee.family_name}".strip(),
            email=employee.email,
            status=employee.status,
            verdict=Verdict.LEFT_ENABLED,
            message=(
                f"{employee.given_name} {employee.family_name} {left}, more than "
                f"RECONCILE_LEFT_DAYS ({self._left_days}) days ago, and {logins} (found by "
                f"{how}) is still enabled. The reconciliation does not act on leavers that old: "
                "disable the account in Entra if nobody should use it."
            ).strip(),
            object_id=enabled[0].id,
            matched_by=how,
        )

    def _judge(self, state: _Pass, employee: LuccaEmployee) -> Finding:
        base = Finding(
            employee_id=employee.id,
            name=f"{employee.given_name} {employee.family_name}".strip(),
            email=employee.email,
            status=employee.status,
            verdict=Verdict.FAILED,
            message="",
        )
        try:
            entry = state.service.sync(employee.id, employee=employee)
        except ConnectorError as err:  # a passing failure reading one employee's details
            return replace(base, message=f"Not planned: {err.message}")
        except Exception as err:  # one employee's bad data must not stop the whole run
            return replace(base, message=f"Not planned: {type(err).__name__}: {err}")
        finally:
            state.log.entries.clear()
        message = entry.message.removeprefix("Observe mode, nothing written: ")
        verdict = FROM_ACTION.get(entry.action, Verdict.FAILED)
        candidates = tuple(
            Candidate(
                id=str(c.get("id", "")),
                user_principal_name=str(c.get("userPrincipalName", "")),
                reasons=str(c.get("reasons", "")),
            )
            for c in entry.details.get("candidates", [])
        )
        if verdict is Verdict.TO_CREATE:
            lookalikes = state.names.candidates(employee)
            if lookalikes:
                verdict = Verdict.LIKELY_DUPLICATE
                candidates = lookalikes
                described = ", ".join(c.user_principal_name or c.id for c in lookalikes)
                message = (
                    f"No account has this employee's email ({employee.email}), but "
                    f"{described} carries the same name. If it is this person's account, put "
                    f"lucca-{employee.id} in its employeeId (or correct the email in Lucca) and "
                    "it is linked at the next run; if not, create this account with "
                    f"`python -m connector sync {employee.id}`."
                )
        wanted, differs = self._schedule(state, employee, entry)
        return replace(
            base,
            verdict=verdict,
            message=message,
            object_id=entry.object_id,
            matched_by=entry.details.get("matched_by"),
            changes=entry.changes,
            candidates=candidates,
            schedule=wanted,
            schedule_differs=differs,
        )

    @staticmethod
    def _schedule(
        state: _Pass, employee: LuccaEmployee, entry: LogEntry
    ) -> tuple[tuple[str, ...], bool]:
        """The actions the sync would keep, and whether they differ from the stored ones."""
        access = state.planner.plans.pop(employee.id, None)
        if access is None or entry.action not in _SCHEDULED_AFTER:
            return (), False
        if entry.action is Action.CREATED:
            enabled = access.enabled_now
        else:
            user = state.directory.get_user(entry.object_id or "")
            enabled = user is not None and user.account_enabled is not False
        actions = actions_to_keep(access, account_enabled=enabled)
        wanted = [(a.kind, a.employment_id, as_utc(a.at)) for a in actions]
        stored = state.snapshot.stored_schedule.get(employee.id, Stored())
        return tuple(a.describe() for a in actions), stored.differs(wanted)

    # -- applying ---------------------------------------------------------------------------
    def apply(
        self,
        report: Report,
        snapshot: Snapshot,
        progress: Progress = _silent,
        *,
        reviewed: bool = False,
    ) -> Applied:
        """The real sync for each employee to apply, under its lease; a busy employee or a
        passing failure is queued for the change worker, so nothing is lost. `reviewed`: an
        operator read the report (`reconcile --apply`, not the nightly run), so the accounts
        it links by mail or login raise no alert and no email."""
        service = self._build_service()
        feed = ChangeFeed(self._storage)
        leases = EmployeeLeases(self._storage)
        applied = Applied()
        todo = report.to_apply
        for done, finding in enumerate(todo, start=1):
            employee_id = finding.employee_id
            token = leases.acquire(employee_id)
            if token is None:
                applied.busy.append(employee_id)
                self._queue(feed, employee_id)
                continue
            try:
                if changed_since(feed, employee_id, report.read_at):
                    # A sync since the read, or an event queued after it: Lucca's state was
                    # read again (or will be); the snapshot's older one must not overwrite it.
                    applied.changed_since.append(employee_id)
                    continue
                entry = service.sync(
                    employee_id, employee=snapshot.employees[employee_id], reviewed=reviewed
                )
                applied.actions[employee_id] = entry.action
                if not entry.observed:  # as the worker: Lucca's state read then is applied
                    feed.mark_applied(employee_id, report.read_at)
                    feed.forget_error(employee_id)
            except Transient as err:
                applied.requeued[employee_id] = err.message
                self._queue(feed, employee_id)
            finally:
                leases.release(employee_id, token)
            progress("applying", done, len(todo))
        return applied

    def _queue(self, feed: ChangeFeed, employee_id: str) -> None:
        now = self._clock()
        feed.enqueue(
            ChangeMessage(
                employee_id=employee_id,
                event_key=f"{RECONCILE_EVENT}-{now:%Y%m%dT%H%M%S}",
                topic=RECONCILE_EVENT,
                queued_at=now,
            ),
            self._delay_seconds,
        )


@dataclass(frozen=True, kw_only=True)
class _Pass:
    """One planning pass: the observing sync and what it plans against."""

    service: SyncService
    log: Collected
    planner: RecordingPlanner
    directory: SnapshotDirectory
    names: NameIndex
    snapshot: Snapshot
