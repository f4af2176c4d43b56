"""Updating an account: only what differs from Lucca, mail and login each in a PATCH of its own,
and the manager, set between linked accounts (a report waits for its manager's link).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Literal

from connector.core.errors import Conflict, Denied, Invalid
from connector.domain.entries import Action, Change, LogEntry
from connector.domain.mapping import MANAGER
from connector.domain.messages import ChangeMessage
from connector.domain.ports import Directory, Feed, LinkStore
from connector.entra.shapes import completed
from connector.flows.creation import login_problem
from connector.flows.sync_run import SyncRun, denied

if TYPE_CHECKING:
    from connector.entra.users import DirectoryUser
    from connector.lucca.models import LuccaEmployee


def differences(
    user: DirectoryUser, want: dict[str, str | None], never_cleared: frozenset[str]
) -> list[Change]:
    """The owned attributes that differ (mail and manager have their own steps); an empty
    value leaves the rows Graph will not clear as they are."""
    changes = []
    for name, new in want.items():
        if name in (MANAGER, "mail"):
            continue
        old = user.graph_value(name)
        if name == "employeeId" and old is not None:
            continue  # the anchor goes only into an empty value, never over another
        if new is None and name in never_cleared:
            continue
        if old != new:
            changes.append(Change(attribute=name, old=old, new=new))
    return changes


class AccountUpdater:
    """Writes what differs to an existing account, and its manager."""

    def __init__(
        self,
        *,
        directory: Directory,
        links: LinkStore,
        feed: Feed,
        owned: frozenset[str],
        never_cleared: frozenset[str],
        sync_upn: bool,
        observe: bool,
        clock: Callable[[], datetime],
    ) -> None:
        self._directory = directory
        self._links = links
        self._feed = feed
        self._owned = owned
        self._never_cleared = never_cleared
        self._sync_upn = sync_upn
        self._observe = observe
        self._clock = clock

    def patch(
        self, run: SyncRun, user: DirectoryUser, want: dict[str, str | None]
    ) -> LogEntry | None:
        """The owned attributes that differ, in one PATCH; the "failed" entry if Entra
        refuses it."""
        changes = differences(user, want, self._never_cleared)
        if changes:
            run.may_change(user.id)
        run.changes.extend(changes)
        # An object Graph replaces whole (employeeOrgData) carries its unchanged members too.
        patch = completed({c.attribute: c.new for c in changes}, user.graph_value)
        if patch and not self._observe:
            try:
                self._directory.update_user(user.id, patch)
                run.wrote = run.wrote or Action.UPDATED
                if "employeeId" in patch:  # the anchor, into an empty value: a clearing now
                    self._links.set_stamped(run.employee_id)  # is an operator's unlink
            except Denied as err:
                return run.finish(
                    Action.FAILED, denied(err, "update", self._directory), request_id=err.request_id
                )
            except Invalid as err:
                return run.finish(
                    Action.FAILED,
                    f"Entra refused the update of {user.user_principal_name}: {err.message}",
                    request_id=err.request_id,
                )
        return None

    def identity_changes(
        self,
        run: SyncRun,
        employee: LuccaEmployee,
        user: DirectoryUser,
        want: dict[str, str | None],
        failures: list[str],
    ) -> None:
        """mail, then (with SYNC_UPN) the login, each in its own PATCH; a clash is reported."""
        email = want.get("mail") if "mail" in self._owned else None
        steps: list[tuple[Literal["mail", "userPrincipalName"], str | None]] = [("mail", email)]
        if self._sync_upn and employee.email:
            steps.append(("userPrincipalName", employee.email))
        for prop, new in steps:
            old = user.graph_value(prop)
            if new is None or (old or "").lower() == new.lower():
                continue
            if prop == "userPrincipalName":
                problem = login_problem(new, self._directory)
                if problem is not None:
                    failures.append(f"The login was not renamed: {problem}")
                    continue
            run.may_change(user.id)
            run.changes.append(Change(attribute=prop, old=old, new=new))
            if self._observe:
                continue
            try:
                self._directory.update_user(user.id, {prop: new})
                run.wrote = run.wrote or Action.UPDATED
            except (Conflict, Invalid, Denied) as err:
                run.changes.pop()
                holder = ", ".join(
                    u.user_principal_name or u.id
                    for u in self._directory.find_users(prop, new)
                    if u.id != user.id
                )
                failures.append(
                    f"{prop} was left as {old!r}: Entra refused {new!r} ({err.message})"
                    + (f"; it is held by {holder}" if holder else "")
                    + ". The other attributes were applied."
                )

    # -- manager ----------------------------------------------------------------------------
    def set_manager(
        self,
        run: SyncRun,
        employee: LuccaEmployee,
        user: DirectoryUser,
        want: dict[str, str | None],
        **known: str | None,
    ) -> None:
        """Lucca's manager, between linked accounts; `current=` when already known."""
        if MANAGER not in self._owned:
            return
        manager_id = want.get(MANAGER)
        if "current" in known:
            current = known["current"]
        elif user.manager_known:
            current = user.manager_id
        else:
            current = self._directory.manager_id(user.id)
        manager_link = self._links.of_employee(manager_id) if manager_id else None
        if manager_id is not None and manager_link is None:
            run.details["pending_manager"] = manager_id
            if not self._observe:
                self._links.set_pending_manager(employee.id, manager_id)
                # The manager may have been linked while this ran: look once more.
                manager_link = self._links.of_employee(manager_id)
            if manager_link is None:
                return
            run.details.pop("pending_manager")
        target = manager_link.object_id if manager_link else None
        if current != target:
            run.may_change(user.id)
            run.changes.append(Change(attribute=MANAGER, old=current, new=target))
            if not self._observe:
                if target is None:
                    self._directory.remove_manager(user.id)
                else:
                    self._directory.set_manager(user.id, target)
                run.wrote = run.wrote or Action.UPDATED
        if not self._observe:
            self._links.set_pending_manager(employee.id, None)

    def requeue_pending_reports(self, manager_id: str) -> None:
        """Reports waiting for this (linked) employee as manager: each gets a sync of its own,
        under its own lease, which sets the manager."""
        for report_id in self._links.pending_reports(manager_id):
            self._feed.enqueue(
                ChangeMessage(
                    employee_id=report_id,
                    event_key=f"manager-linked-{manager_id}",
                    topic="manager-linked",
                    queued_at=self._clock(),
                ),
                0,
            )
