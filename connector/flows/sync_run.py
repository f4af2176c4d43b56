"""One sync's run: what it has found and done so far, turned into its integration log entry at
the end; and the sentence that explains Graph's 403 to an administrator."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from connector.core.errors import Permanent
from connector.domain.contract_dates import AccessPlan
from connector.domain.entries import ALERT, Action, Change, LogEntry
from connector.domain.notices import Who
from connector.domain.ports import Accounts, Log

if TYPE_CHECKING:
    from connector.entra.users import DirectoryUser
    from connector.lucca.models import LuccaEmployee


class Privileged(Exception):
    """The account holds a directory role: the connector writes nothing to it."""

    def __init__(self, object_id: str, roles: list[str]) -> None:
        super().__init__(f"account {object_id} holds {held(roles)}")
        self.object_id = object_id
        self.roles = roles


def held(roles: list[str]) -> str:
    """`the directory role Global Administrator` (or `roles A, B`)."""
    return f"the directory role{'s' if len(roles) > 1 else ''} {', '.join(roles)}"


# Graph application permissions, named in entries when Graph answers 403.
WRITE_ROLE = "User.ReadWrite.All"
WRITE_ROLES = frozenset({WRITE_ROLE, "Directory.ReadWrite.All"})  # either one may write users


class SyncRun:
    """What one sync has found and done so far, turned into its log entry at the end."""

    def __init__(
        self,
        *,
        log: Log,
        clock: Callable[[], datetime],
        observed: bool,
        employee_id: str,
        event_keys: tuple[str, ...],
        roles: Callable[[str], list[str]] | None = None,
    ) -> None:
        self._log = log
        self._roles = roles
        self._cleared: set[str] = set()  # accounts whose roles were read: none held
        self._clock = clock
        self._observed = observed
        self.employee_id = employee_id
        self.event_keys = event_keys
        self.object_id: str | None = None
        self.linked_by: str | None = None
        self.changes: list[Change] = []
        self.details: dict[str, Any] = {}
        self.wrote: Action | None = None  # what was already written to Entra or the links
        self.note = ""
        self.access: AccessPlan | None = None
        self.disabled_by_connector = False
        self.lifecycle: tuple[str | None, str | None] = (None, None)
        self.alert = False  # an existing account linked by mail or login: an operator checks
        self.who: Who | None = None  # the employee's name and login, once read
        self.restored = False  # a deleted account was restored (flows/deleted_holders.py)
        self.patience_over = False  # the last try of a brief Transient: report, never raise

    def know(self, employee: LuccaEmployee, user: DirectoryUser | None) -> None:
        """Who the employee is, kept with the entry and the schedule for the daily digest:
        the name and the account's login (or the address the account would have)."""
        login = user.user_principal_name if user is not None else None
        name = f"{employee.given_name} {employee.family_name}".strip()
        self.who = Who(name, login or employee.email)

    def may_change(self, object_id: str) -> None:
        """Before the run's first change to an account (planned or written): one read of its
        directory roles; `Privileged` if it holds one, and nothing is written to it."""
        if self._roles is None or object_id in self._cleared:
            return
        roles = self._roles(object_id)
        if roles:
            raise Privileged(object_id, roles)
        self.cleared(object_id)

    def cleared(self, object_id: str) -> None:
        """The account holds no directory role (read just now, or created by this run)."""
        self._cleared.add(object_id)

    def summary(self) -> str:
        """What was already done, for an entry written when the run stops half-way."""
        changed = "; ".join(str(c) for c in self.changes)
        return f"{self.note} {changed}".strip()

    def finish(
        self,
        action: Action,
        message: str,
        *,
        object_id: str | None = None,
        request_id: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> LogEntry:
        """Write the run's integration log entry and return it."""
        entry = LogEntry(
            time=self._clock(),
            action=action,
            message=("Observe mode, nothing written: " + message) if self._observed else message,
            employee_id=self.employee_id,
            object_id=object_id or self.object_id,
            changes=tuple(self.changes),
            event_keys=self.event_keys,
            request_id=request_id,
            observed=self._observed,
            details=(merged := {**self.details, **(details or {})}),
            # Alerting: a link nobody reviewed, or what `details[ALERT]` says (a directory
            # role, an account not added to MATCH_SCOPE).
            alert=self.alert or bool(merged.get(ALERT)),
            name=self.who.name if self.who else "",
            login=self.who.login if self.who else None,
        )
        self._log.write(entry)
        return entry


def denied(err: Permanent, doing: str, directory: Accounts) -> str:
    """Graph's 403, explained from the roles in the connector's own token."""
    roles = directory.granted_roles()
    if roles is not None and not roles & WRITE_ROLES:
        return (
            f"Entra refused to {doing} the account: the connector's identity lacks the "
            f"Microsoft Graph permission {WRITE_ROLE}. Grant it and give admin consent."
        )
    if roles is not None and doing == "create":
        return (
            f"Entra refused to create the account although the connector holds {WRITE_ROLE}: "
            f"{err.message}"
        )
    if roles is not None:
        return (
            f"Entra refused to {doing} the account although the connector holds "
            f"{WRITE_ROLE}: the account holds a privileged administrator role the "
            "connector may not change. Change it by hand, or remove the role."
        )
    return (
        f"Entra refused to {doing} the account (Authorization_RequestDenied): either the "
        f"connector's identity lacks {WRITE_ROLE} (grant it and give admin consent), or the "
        "account holds a privileged administrator role the connector may not change."
    )
