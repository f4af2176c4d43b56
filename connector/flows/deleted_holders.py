"""A login held by a deleted account (Entra's recycle bin), and restoring one (issue 19).

A deleted user stays 30 days in Entra's deleted items and keeps its login: Graph refuses to
create another account with it (ObjectConflict) while `GET /users/{login}` finds nobody. When a
POST meets that, the deleted users are read by the login:
- one carries this employee's anchor (`lucca-<id>`, a rehire a few weeks after IT deleted the
  leaver's account): with RESTORE_DELETED_ACCOUNTS it is restored (same object id), then
  linked, updated and enabled per the employee's dates like any linked account ("restored");
  without it, a conflict saying it can be restored and how, and the "account not created" email;
- one belongs to someone else: a permanent conflict naming it, with the email (a login built
  from the name: the next candidate instead);
- nobody, active or deleted: a replication delay (a brief `Transient`, retried for minutes
  by the escrow), reported as a conflict with the email at the last try.
A linked account IT deleted is the same choice (`linked`), on the employee's next change.
Nothing is restored for an employee who should have no access (deactivated, or no enable
planned now or later): a leaver's account IT deleted stays deleted.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING

from connector.core.errors import Conflict, Denied, NotFound, Transient
from connector.domain.entries import Action, LogEntry
from connector.domain.mapping import anchor
from connector.entra.deleted import RESTORE_ROLE

if TYPE_CHECKING:
    from connector.domain.contract_dates import AccessPlan
    from connector.domain.ports import Directory, LinkStore, Notifications, Planner
    from connector.entra.deleted import DeletedUser
    from connector.entra.users import DirectoryUser
    from connector.flows.sync_run import SyncRun
    from connector.lucca.models import LuccaEmployee

DELETED_USERS = "Entra > Users > Deleted users"
SETTING = "RESTORE_DELETED_ACCOUNTS"


class Taken(Exception):
    """Another object holds the login (Graph refused the POST): try the next one."""


def held_by_someone_else(login: str, holder: DeletedUser) -> str:
    """The sentence for a login held by someone else's deleted account."""
    named = holder.display_name or holder.id
    return (
        f"The login {login} is held by a deleted account, {named} ({holder.id}), deleted on "
        f"{holder.deleted_on()}: restore it or delete it permanently in {DELETED_USERS}, or "
        "change the professional email in Lucca. Entra keeps a deleted account's login for 30 "
        "days."
    )


def restore_denied(login: str, holder: DeletedUser) -> str:
    """The sentence when Graph refuses to restore this employee's own deleted account."""
    return (
        f"Entra refused to restore the account {login} ({holder.id}), deleted on "
        f"{holder.deleted_on()}: the connector's identity lacks the Microsoft Graph permission "
        f"{RESTORE_ROLE} (`azd provision` grants it with {SETTING}=true; then admin consent), "
        "or the account holds an administrator role the connector may not restore. Restore it "
        f"in {DELETED_USERS} (the connector then links it)."
    )


def restorable(login: str, holder: DeletedUser) -> str:
    """The sentence for this employee's own deleted account, the setting off."""
    return (
        f"The login {login} is held by this employee's own account {holder.id}, deleted on "
        f"{holder.deleted_on()}: it can be restored. Restore it in {DELETED_USERS} (the "
        f"connector then links it), or set {SETTING}=true for the connector to restore it."
    )


class DeletedHolders:
    """Reads who holds a login among the deleted users, and restores this employee's own."""

    def __init__(
        self,
        *,
        directory: Directory,
        links: LinkStore,
        restore: bool,
        observe: bool,
        notifier: Notifications,
        planner: Planner | None = None,
        clock: Callable[[], datetime],
    ) -> None:
        self._notifier = notifier
        self._directory = directory
        self._links = links
        self._restore = restore  # RESTORE_DELETED_ACCOUNTS
        self._observe = observe
        self._planner = planner
        self._clock = clock

    def after_conflict(
        self,
        run: SyncRun,
        employee: LuccaEmployee,
        login: str,
        err: Conflict,
        *,
        next_if_taken: bool,
    ) -> DirectoryUser | LogEntry:
        """Graph refused the POST (login taken) and no active account holds it: this
        employee's deleted account restored, or the entry saying why there is no account;
        Taken (a login built from the name) or a brief Transient (nobody holds it yet)."""
        holders = self._directory.deleted_holders(login)
        own = self.own_holder(employee, holders)
        if own is not None:
            return self.own(run, employee, login, own)
        if holders:
            if next_if_taken:
                raise Taken(login) from err
            return run.finish(
                Action.CONFLICT,
                held_by_someone_else(login, holders[0]),
                object_id=holders[0].id,
                request_id=err.request_id,
                details={"deleted_holder": holders[0].id},
            )
        if run.patience_over:
            return run.finish(
                Action.CONFLICT,
                f"Graph says the login {login} is taken, but no account holds it, neither "
                "among the users nor among the deleted users, after minutes of retries. Look "
                "for it in Entra (an alias of another object, a contact or a group), or change "
                "the professional email in Lucca.",
                request_id=err.request_id,
            )
        raise Transient(
            f"Graph says the login {login} is taken but shows no account with it yet",
            service="graph",
            request_id=err.request_id,
            brief=True,
        ) from err

    def planned(self, run: SyncRun, employee: LuccaEmployee, login: str) -> LogEntry | None:
        """Observing (a plan, a dry run): the entry when a deleted account holds the login
        (a restore, or the conflict); None when none does and the account would be created."""
        holders = self._directory.deleted_holders(login)
        if not holders:
            return None
        own = self.own_holder(employee, holders)
        if own is not None:
            planned = self.own(run, employee, login, own)  # observing: always an entry
            return planned if isinstance(planned, LogEntry) else None
        return run.finish(
            Action.CONFLICT, held_by_someone_else(login, holders[0]), object_id=holders[0].id
        )

    def own_holder(self, employee: LuccaEmployee, holders: list[DeletedUser]) -> DeletedUser | None:
        """This employee's deleted account among the holders: its anchor, linked to nobody
        else, and not unlinked from this employee by an operator (whose word stands)."""
        mark = anchor(employee.id)
        return next(
            (
                h
                for h in holders
                if h.employee_id == mark
                and self._links.employee_of(h.id) in (None, employee.id)
                and not self._links.is_refused(employee.id, h.id)
            ),
            None,
        )

    def own(
        self, run: SyncRun, employee: LuccaEmployee, login: str, holder: DeletedUser
    ) -> DirectoryUser | LogEntry:
        """This employee's deleted account: restored (the setting on; observing: the entry
        saying it would be), or the conflict saying it can be."""
        if not self._restore:
            return run.finish(Action.CONFLICT, restorable(login, holder), object_id=holder.id)
        if self._observe:
            return run.finish(
                Action.RESTORED,
                f"Would restore the account {login} ({holder.id}), deleted on "
                f"{holder.deleted_on()}, then link and update it.",
                object_id=holder.id,
            )
        # Recorded first, as for a disable: a restore is no creation (no "account created"
        # email, even after a lost answer), the link lets a retry find the account as linked,
        # and a restored account counts as closed by the connector, so the employee's dates
        # open it (the flag is cleared below, or by the next sync, if it is enabled).
        self._notifier.restored(employee.id)
        if self._links.of_employee(employee.id) is None:
            stamped = holder.employee_id == anchor(employee.id)
            self._links.link(
                employee.id, holder.id, how="restored", at=self._clock(), stamped=stamped
            )
        self._links.set_disabled_by_connector(employee.id, True)
        try:
            user = self._directory.restore(holder.id)
        except Denied as err:  # the link stays: a restore by hand is linked, a retry tries again
            return run.finish(
                Action.CONFLICT,
                restore_denied(login, holder),
                object_id=holder.id,
                request_id=err.request_id,
            )
        except NotFound:  # no longer deleted: restored meanwhile (a lost answer the SDK
            # retried, an administrator), or purged for good
            back = self._directory.get_user(holder.id)
            if back is None:
                raise
            user = back
        run.restored = True
        run.details["deleted_on"] = holder.deleted_on()
        if user.account_enabled is not False and not self._open_now(run, employee):
            # Deleted while enabled, for an employee not to have access yet (or any more):
            # closed at once, as a new account would have been created disabled.
            self._directory.update_user(user.id, {"accountEnabled": False})
            user = replace(user, account_enabled=False)
        return user

    def linked(
        self, run: SyncRun, employee: LuccaEmployee, holder: DeletedUser
    ) -> DirectoryUser | LogEntry:
        """A linked account IT deleted: restored (the setting on, the employee to have access
        now or later; observing: the entry saying it would be), or the conflict (with the
        "account not created" email when the employee is to have access)."""
        login = holder.user_principal_name or holder.id
        wanted = self.wants_access(run, employee)
        if self._restore and wanted:
            if (replaced := self._replacement(run, employee, holder)) is not None:
                return replaced
            restored = self.own(run, employee, login, holder)
            if isinstance(restored, LogEntry) and restored.action is Action.CONFLICT:
                # Graph refused it: the create path's email (the outbox keeps it to one)
                self._not_created(employee, employee.email, restored.message, code="post")
            return restored
        said = (
            f"The linked account {login} ({holder.id}) was deleted in Entra on "
            f"{holder.deleted_on()}."
        )
        if not wanted:
            said += " The employee has no access to come: it stays deleted."
        else:
            said += (
                f" Restore it in {DELETED_USERS} (it keeps its link), or set {SETTING}=true "
                "for the connector to restore it; or remove the link (`python -m connector "
                f"unlink {employee.id}`) for the connector to create a new account."
            )
        entry = run.finish(Action.CONFLICT, said, object_id=holder.id)
        if wanted:
            self._not_created(employee, login, said)
        return entry

    def _replacement(
        self, run: SyncRun, employee: LuccaEmployee, holder: DeletedUser
    ) -> LogEntry | None:
        """The conflict when an active account already carries this employee's anchor or
        professional email (IT made a replacement): the deleted one is not restored beside it."""
        found = self._directory.find_users("employeeId", anchor(employee.id))
        if not found and employee.email:
            found = self._directory.find_users("mail", employee.email) or (
                self._directory.find_users("userPrincipalName", employee.email)
            )
        if not found:
            return None
        other = found[0]
        return run.finish(
            Action.CONFLICT,
            f"The linked account {holder.user_principal_name or holder.id} ({holder.id}) was "
            f"deleted in Entra on {holder.deleted_on()}, and the account "
            f"{other.user_principal_name or other.id} ({other.id}) now carries this employee's "
            "anchor or professional email: nothing is restored beside it. If it is the "
            f"employee's account, run `python -m connector unlink {employee.id}`, then "
            f"`python -m connector link {employee.id} {other.id}`.",
            object_id=holder.id,
            details={"replacement": other.id},
        )

    def _access(self, run: SyncRun, employee: LuccaEmployee) -> AccessPlan | None:
        """The employee's access plan, planned once per sync (kept as `run.access`, which the
        sync then uses: the planner may read Lucca); None without a planner."""
        if run.access is None and self._planner is not None:
            run.access = self._planner.plan(employee, self._clock())
        return run.access

    def _open_now(self, run: SyncRun, employee: LuccaEmployee) -> bool:
        """Whether the employee is to have an enabled account now."""
        if employee.status == "deactivated":
            return False
        access = self._access(run, employee)
        return access is None or access.enabled_now

    def _not_created(
        self, employee: LuccaEmployee, login: str | None, reason: str, *, code: str = "deleted"
    ) -> None:
        """The "account not created" email for a linked account left deleted."""
        if self._observe:
            return
        self._notifier.not_created(
            employee_id=employee.id,
            name=f"{employee.given_name} {employee.family_name}".strip(),
            login=login,
            reason=reason,
            code=code,
        )

    def wants_access(self, run: SyncRun, employee: LuccaEmployee) -> bool:
        """Whether the employee is to have an enabled account now or later."""
        if employee.status == "deactivated":
            return False
        access = self._access(run, employee)
        return (
            access is None or access.enabled_now or any(a.kind == "enable" for a in access.upcoming)
        )
