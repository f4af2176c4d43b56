"""The sync: one Lucca employee, read now, becomes exactly the Entra account it should be.

It finds the account (link → anchor → mail → userPrincipalName), links only what is
unambiguous, creates only what is missing, writes only what differs, sets the manager between
linked accounts, and ends every run with one integration log entry an administrator can act
on. In observe mode it plans and logs, and writes nothing to Entra or to the links.
It depends on the ports (`connector.domain.ports`), never on an SDK or a store. `SyncService`
runs the steps, each in a module of its own: the matcher (`matching`), creating (`creation`),
updating and the manager (`updates`), start and end dates (`dates`), the entry (`sync_run`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, TypeVar

from connector.core.clock import utc_now
from connector.core.errors import ConnectorError, Denied, NotFound, Permanent
from connector.domain.entries import ALERT, Action, LogEntry
from connector.domain.mapping import (
    Attribute,
    LuccaView,
    Need,
    anchor,
    cut_rows,
    desired,
    needs_of,
    never_cleared,
)
from connector.domain.ports import (
    Directory,
    Feed,
    LinkStore,
    Log,
    LuccaReader,
    Notifications,
    Schedule,
    ZonedPlanner,
)
from connector.entra.scope import ROLES_DENIED
from connector.flows.creation import AccountCreator
from connector.flows.dates import AccessDates
from connector.flows.deleted_holders import DeletedHolders
from connector.flows.login_choice import LoginRule, login_chooser
from connector.flows.matching import Match, Matcher
from connector.flows.restoring import adopt_restored, restored_match
from connector.flows.sync_run import Privileged, SyncRun, denied, held
from connector.flows.sync_words import check_sentence, ending, linked_sentence, not_in_lucca
from connector.flows.updates import AccountUpdater
from connector.notify.notifier import DISABLED

if TYPE_CHECKING:
    from connector.entra.scope import MatchScope
    from connector.entra.users import DirectoryUser
    from connector.flows.scope_gate import ScopeGate
    from connector.lucca.models import LuccaEmployee

T = TypeVar("T")
# How an existing account found by the employee's professional email was found.
BY_EMAIL = frozenset({"mail", "userPrincipalName"})


class SyncService:
    """Syncs one employee at a time (the caller holds the employee's lease)."""

    def __init__(
        self,
        *,
        lucca: LuccaReader,
        directory: Directory,
        feed: Feed,
        links: LinkStore,
        log: Log,
        attributes: tuple[Attribute, ...],
        planner: ZonedPlanner | None = None,
        schedule: Schedule | None = None,
        lifecycle_dates: bool = False,
        sync_upn: bool = False,
        observe: bool = False,
        notifier: Notifications = DISABLED,
        clock: Callable[[], datetime] = utc_now,
        match_scope: MatchScope | None = None,
        add_created_to_scope: bool = False,
        scope_gate: ScopeGate | None = None,
        logins: LoginRule | None = None,
        match_key: str = "mail",  # MATCH_KEY (flows/matching.py KEYS)
        restore_deleted: bool = False,  # RESTORE_DELETED_ACCOUNTS (flows/deleted_holders.py)
    ) -> None:
        self._scope_gate = scope_gate  # SYNC_SCOPE: out of scope stops here
        self._notifier = notifier
        self._planner = planner
        self._lucca = lucca
        self._directory = directory
        self._feed = feed
        self._links = links
        self._log = log
        self._attributes = attributes
        self._needs = needs_of(attributes)
        self._observe, self._clock = observe, clock
        self._matcher = Matcher(
            directory=directory,
            links=links,
            stamps=any(a.name == "employeeId" for a in attributes),
            scope=match_scope,
            key=match_key,
        )
        self._creator = AccountCreator(
            directory=directory,
            links=links,
            notifier=notifier,
            join_scope=match_scope if add_created_to_scope else None,
            observe=observe,
            clash_is_conflict=match_key != "mail",
            deleted=DeletedHolders(
                directory=directory,
                links=links,
                notifier=notifier,
                restore=restore_deleted,
                observe=observe,
                planner=planner,
                clock=clock,
            ),
        )
        self._logins = login_chooser(  # LOGIN_TEMPLATE: logins from names
            logins, directory, links, notifier, self._creator, observe=observe
        )
        self._updater = AccountUpdater(
            directory=directory,
            links=links,
            feed=feed,
            owned=frozenset(a.name for a in attributes),
            never_cleared=never_cleared(attributes),
            sync_upn=sync_upn,
            observe=observe,
            clock=clock,
        )
        self._dates = AccessDates(
            directory=directory,
            links=links,
            log=log,
            planner=planner,
            schedule=schedule,
            lifecycle_dates=lifecycle_dates,
            observe=observe,
            clock=clock,
        )

    # -- the run ----------------------------------------------------------------------------
    def sync(
        self,
        employee_id: str,
        event_keys: Sequence[str] = (),
        *,
        employee: LuccaEmployee | None = None,
        reviewed: bool = False,
        patience_over: bool = False,
    ) -> LogEntry:
        """Bring the employee's Entra account in step with Lucca; return the log entry.

        `employee` is the employee as just read from Lucca's list (a reconciliation), instead
        of one more request. `reviewed`: an operator reviewed this sync's plan (`reconcile
        --apply`), so an existing account linked by its mail or login needs no alert and no
        email; `patience_over`: the last try of a brief Transient (the worker's). A permanent
        failure ends in a "failed" entry (retrying cannot help); a transient one is raised for
        the queue to retry, after an entry for whatever was already written."""
        run = SyncRun(
            log=self._log,
            clock=self._clock,
            observed=self._observe,
            employee_id=employee_id,
            event_keys=tuple(event_keys),
            roles=self._directory.directory_roles,
        )
        run.patience_over = patience_over
        try:
            return self._sync(run, employee_id, employee, reviewed=reviewed)
        except Permanent as err:
            return run.finish(Action.FAILED, self._explain(err), request_id=err.request_id)
        except Exception as err:
            if run.wrote is not None:
                reason = err.message if isinstance(err, ConnectorError) else type(err).__name__
                run.finish(
                    run.wrote,
                    f"{run.summary()} Then the sync stopped ({reason}); the rest is retried.",
                )
            raise

    def _sync(
        self, run: SyncRun, employee_id: str, employee: LuccaEmployee | None, *, reviewed: bool
    ) -> LogEntry:
        read = self._read(run, employee_id, employee)
        if isinstance(read, LogEntry):
            return read
        employee = read
        self._remember_resources(employee)
        view = self._view(run, employee)
        want = desired(view, self._attributes)
        if cut := cut_rows(view, self._attributes):
            run.details["cut_to_graph_length"] = cut
        match = self._matcher.find(employee)
        if match.deleted is not None:  # the linked account IT deleted: restored, or reported
            restored = self._creator.deleted.linked(run, employee, match.deleted)
            if isinstance(restored, LogEntry):
                return restored
            match = restored_match(run, self._links, employee, match, restored)
        run.know(employee, match.user if match.conflict is None else None)  # who, for emails
        if match.unlinked is not None:
            # Someone cleared or changed the anchor in Entra: the operator's word, nothing
            # stamped back, nothing written, and the account refused to this employee.
            if not self._observe:
                self._links.unlink(employee_id, at=self._clock(), why="employeeId in Entra")
            return run.finish(Action.UNLINKED_IN_ENTRA, match.unlinked, object_id=match.object_id)
        if match.conflict is not None:
            entry = run.finish(
                Action.CONFLICT,
                match.conflict,
                object_id=match.user.id if match.user else match.object_id,
                details={
                    "candidates": match.candidates,
                    **({ALERT: "directory role"} if match.privileged else {}),
                },
            )
            if match.candidates and employee.status != "deactivated" and not self._observe:
                # Accounts were found, none could be linked: no account, say why.
                self._creator.not_created(employee, match.conflict, "conflict")
            return entry
        if self._planner is not None and run.access is None:  # a restore may have planned it
            run.access = self._planner.plan(employee, self._clock())
        if match.user is None:
            return self._create(run, employee, want)
        user = match.user
        run.details["matched_by"] = match.how
        run.disabled_by_connector = match.disabled_by_connector
        run.lifecycle = match.lifecycle
        if not match.linked:
            run.cleared(user.id)  # the matcher has just read its roles: none
        self._keep_link(run, employee, user, match, reviewed=reviewed)
        return self._update(run, employee, user, want)

    def _keep_link(
        self,
        run: SyncRun,
        employee: LuccaEmployee,
        user: DirectoryUser,
        match: Match,
        *,
        reviewed: bool,
    ) -> None:
        """Link the account found (not linked yet), or record that a linked one holds the
        anchor (a link stored before that was recorded)."""
        if self._observe:
            if not match.linked:
                run.linked_by = match.how or "match"
            return
        stamped = user.employee_id == anchor(employee.id)
        if match.linked:
            if match.stamp_seen:
                self._links.set_stamped(employee.id)
            return
        run.linked_by = match.how or "match"
        if stamped and self._notifier.was_creating(employee.id):
            # The connector's own POST went through and the sync stopped before it said so:
            # say it now (the outbox keeps it to one email).
            built = self._logins.how_built(employee, user) if self._logins else ""
            self._creator.created_notice(run, employee, user, built)
        if run.linked_by in BY_EMAIL and not reviewed:
            # Nobody reviewed this link (`reconcile --apply` is reviewed): the account may be a
            # service, shared or admin one whose address HR typed in. The notice before the
            # link: a sync stopping in between finds it by mail again.
            run.alert = True
            self._creator.linked_notice(employee, user, run.linked_by)
        self._links.link(employee.id, user.id, how=run.linked_by, at=self._clock(), stamped=stamped)
        run.wrote = Action.LINKED
        run.note = linked_sentence(user, run.linked_by) + check_sentence(run, user, employee.id)

    # -- reading ----------------------------------------------------------------------------
    def _read(
        self, run: SyncRun, employee_id: str, employee: LuccaEmployee | None
    ) -> LuccaEmployee | LogEntry:
        """The employee (read now unless given), or the entry when Lucca no longer shows it
        or it is outside SYNC_SCOPE."""
        if employee is None:
            try:
                employee = self._lucca.employee(employee_id)
            except NotFound:
                action, message, object_id = not_in_lucca(self._links, employee_id)
                return run.finish(action, message, object_id=object_id)
        if self._scope_gate and (out := self._scope_gate.outside(run, employee)) is not None:
            return out
        if employee.email is not None:  # " a@b.fr " in Lucca is a@b.fr everywhere
            employee = employee.model_copy(update={"email": employee.email.strip() or None})
        return employee

    def _remember_resources(self, employee: LuccaEmployee) -> None:
        """Record the employee's employment and job position, for *.deleted events later."""
        if employee.employment is not None:
            self._feed.remember_resource("employment", employee.employment.id, employee.id)
        if employee.job_position is not None:
            self._feed.remember_resource("job-position", employee.job_position.id, employee.id)

    @staticmethod
    def _optional(run: SyncRun, read: Callable[[str], T], resource_id: str) -> T | None:
        """A related resource the API client may not see: its attributes stay empty."""
        try:
            return read(resource_id)
        except NotFound:
            run.details.setdefault("not_visible_in_lucca", []).append(resource_id)
            return None

    def _view(self, run: SyncRun, employee: LuccaEmployee) -> LuccaView:
        position = employee.job_position
        employment = employee.employment
        department = legal_entity = establishment = None
        if Need.DEPARTMENT in self._needs and position and position.department_id:
            department = self._optional(run, self._lucca.department, position.department_id)
        if Need.LEGAL_ENTITY in self._needs and employment and employment.legal_entity_id:
            legal_entity = self._optional(run, self._lucca.legal_entity, employment.legal_entity_id)
        if Need.ESTABLISHMENT in self._needs and position and position.establishment_id:
            establishment = self._optional(
                run, self._lucca.establishment, position.establishment_id
            )
        return LuccaView(
            employee=employee,
            department=department,
            legal_entity=legal_entity,
            establishment=establishment,
        )

    # -- writing ----------------------------------------------------------------------------
    def _create(
        self, run: SyncRun, employee: LuccaEmployee, want: dict[str, str | None]
    ) -> LogEntry:
        if employee.status == "deactivated":
            return run.finish(
                Action.SKIPPED,
                f"Employee {employee.id} is deactivated in Lucca: no account is created.",
            )
        enabled = run.access.enabled_now if run.access is not None else True
        if self._logins is not None and not employee.email:  # LOGIN_TEMPLATE: from the name
            created = self._logins.create(run, employee, want, enabled=enabled)
        else:
            created = self._creator.create(run, employee, want, enabled=enabled)
        if isinstance(created, LogEntry):
            return created
        if created.restored:  # this employee's deleted account: linked and updated
            adopt_restored(run, self._links, employee, created.user, self._clock())
            return self._update(run, employee, created.user, want)
        outcome, built = created.user, created.built
        email = created.login + (f" ({built})" if built else "")
        run.object_id = outcome.id
        run.cleared(outcome.id)  # just created: it holds no role
        run.wrote = Action.CREATED
        run.note = f"Created {email}."
        # The notice before the link: a sync stopping in between finds the account by its
        # anchor and the creation intent, and raises the notice then.
        self._creator.created_notice(run, employee, outcome, built)
        self._links.link(employee.id, outcome.id, how="created", at=self._clock(), stamped=True)
        if not enabled:
            self._links.set_disabled_by_connector(employee.id, True)
        joined = self._creator.join_scope(run, outcome.id)
        self._updater.set_manager(run, employee, outcome, want, current=None)
        self._updater.requeue_pending_reports(employee.id)
        self._dates.write_lifecycle(run, employee, outcome.id)
        self._dates.keep_schedule(run, employee.id, account_enabled=enabled)
        closed = "" if enabled else " It stays disabled until the first day (scheduled)."
        return run.finish(
            Action.CREATED,
            f"Created {email}; the password is random and must be changed at first sign-in."
            + closed
            + joined,
        )

    def _update(
        self,
        run: SyncRun,
        employee: LuccaEmployee,
        user: DirectoryUser,
        want: dict[str, str | None],
    ) -> LogEntry:
        run.object_id = user.id
        failures: list[str] = []
        try:
            refused = self._updater.patch(run, user, want)
            if refused is not None:
                return refused
            self._updater.identity_changes(run, employee, user, want, failures)
            self._updater.set_manager(run, employee, user, want)
            enabled = self._dates.open_if_due(run, employee, user)
            self._dates.write_lifecycle(run, employee, user.id)
        except Privileged as err:
            # Nothing is written to it; its dates are still scheduled, so that a disable
            # falling due is refused by the timer where an operator sees it.
            enabled = user.account_enabled is not False
            self._dates.keep_schedule(run, employee.id, account_enabled=enabled)
            return run.finish(
                Action.CONFLICT,
                f"Account {user.user_principal_name or user.id} holds {held(err.roles)}: the "
                "connector changes nothing on it, an administrator's account is not an "
                "employee's. Nothing was written; remove the role if the account is this "
                "employee's, or unlink it.",
                details={ALERT: "directory role", "roles": err.roles},
            )
        if not self._observe:
            self._updater.requeue_pending_reports(employee.id)
        self._dates.keep_schedule(run, employee.id, account_enabled=enabled)
        if failures:
            return run.finish(Action.CONFLICT, " ".join(failures))
        return run.finish(*ending(run, user, employee.id))

    # -- explaining -------------------------------------------------------------------------
    def _explain(self, err: Permanent) -> str:
        """The sentence for a permanent failure, with what to do."""
        if err.code == ROLES_DENIED:
            return err.message
        if isinstance(err, Denied) and err.service == "graph":
            return denied(err, "change", self._directory)
        return f"{err.service.capitalize()} refused: {err.message}"
