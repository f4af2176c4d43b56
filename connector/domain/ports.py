"""The ports: every interface the engines (`connector.flows`) depend on, in one place.

What they need from Lucca, from the Entra directory, of the access planner and the notifier,
and of the stores (identity links, schedule, integration log, change feed, leases). The real
classes fit them (`connector.runtime.build` wires them, and mypy checks it there); the unit
tests give the engines in-memory ones. Heavy clients are named for the type checker only, so
importing the ports pulls in no SDK.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, Protocol
from zoneinfo import ZoneInfo

from connector.domain.contract_dates import AccessPlan, PlannedAction
from connector.domain.entries import Action, LogEntry
from connector.domain.links import Link
from connector.domain.messages import ChangeMessage
from connector.domain.notices import Who
from connector.domain.scheduled import ScheduleChange, ScheduledAction

if TYPE_CHECKING:
    from connector.domain.access import AccessPlanner
    from connector.entra.deleted import DeletedUser
    from connector.entra.directory import GraphDirectory
    from connector.entra.scope import MatchScope
    from connector.entra.users import DirectoryUser, Domain, FindBy
    from connector.lucca.client import LuccaClient
    from connector.lucca.models import (
        LuccaDepartment,
        LuccaEmployee,
        LuccaEstablishment,
        LuccaLegalEntity,
        LuccaWebhookEndpoint,
    )


# -- Lucca ------------------------------------------------------------------------------------
class EmployeeReader(Protocol):
    """What the timer reads from Lucca (`LuccaClient` fits)."""

    def employee(self, employee_id: str) -> LuccaEmployee:
        """The employee as Lucca has it now; NotFound if Lucca no longer shows it."""
        ...


class LuccaReader(EmployeeReader, Protocol):
    """What the sync reads from Lucca: the employee, and its organisation."""

    def department(self, department_id: str) -> LuccaDepartment:
        """A department."""
        ...

    def legal_entity(self, legal_entity_id: str) -> LuccaLegalEntity:
        """A legal entity."""
        ...

    def establishment(self, establishment_id: str) -> LuccaEstablishment:
        """A business establishment."""
        ...


class CatchUpLucca(Protocol):
    """What the catch-up needs of the Lucca client."""

    def events(
        self, *, after: datetime | None = None, status: str | None = None
    ) -> Iterator[dict[str, Any]]:
        """Lucca's kept events that occurred after `after` (of one delivery status), in any
        order."""

    def webhook_endpoint(self, endpoint_id: str) -> LuccaWebhookEndpoint:
        """One webhook endpoint."""


# -- Entra ------------------------------------------------------------------------------------
class Accounts(Protocol):
    """An Entra account read and changed by object id: what the sync and the timer share."""

    def get_user(self, object_id: str) -> DirectoryUser | None:
        """A user by object id, or None."""
        ...

    def update_user(self, object_id: str, properties: Mapping[str, object]) -> None:
        """Change some properties of a user."""
        ...

    def granted_roles(self) -> frozenset[str] | None:
        """The application permissions in the token, None when unknown."""
        ...

    def directory_roles(self, object_id: str) -> list[str]:
        """The names of the directory roles the account holds (active assignments)."""
        ...


class Directory(Accounts, Protocol):
    """What the sync reads and writes in Entra (`GraphDirectory` fits)."""

    def find_users(self, prop: FindBy, value: str) -> list[DirectoryUser]:
        """Users whose `prop` equals `value`."""
        ...

    def address_holders(self, address: str) -> list[DirectoryUser]:
        """Users holding `address` as login, mail or `smtp:` proxy address."""
        ...

    def create_user(self, properties: Mapping[str, object], password: str) -> DirectoryUser:
        """Create a user."""
        ...

    def manager_id(self, object_id: str) -> str | None:
        """The object id of a user's manager."""
        ...

    def set_manager(self, object_id: str, manager_object_id: str) -> None:
        """Set a user's manager."""
        ...

    def remove_manager(self, object_id: str) -> None:
        """Remove a user's manager."""
        ...

    def domains(self) -> list[Domain]:
        """The tenant's domains."""
        ...

    def in_scope(self, object_id: str, scope: MatchScope) -> bool:
        """Whether the account is a member of MATCH_SCOPE."""
        ...

    def add_to_scope(self, scope: MatchScope, object_id: str) -> None:
        """Make the account a member of MATCH_SCOPE."""
        ...

    # Entra's deleted users (connector/entra/deleted.py): by login, by id; restoring one.
    def deleted_holders(self, login: str) -> list[DeletedUser]: ...
    def deleted_user(self, object_id: str) -> DeletedUser | None: ...
    def restore(self, object_id: str) -> DirectoryUser: ...


class AccountSwitch(Accounts, Protocol):
    """What the timer reads and writes in Entra (`GraphDirectory` fits)."""

    def revoke_sessions(self, object_id: str) -> None:
        """Invalidate the user's refresh tokens and session cookies."""
        ...


# -- planning and notices ---------------------------------------------------------------------
class Planner(Protocol):
    """Plans an employee's enables and disables (`AccessPlanner` fits)."""

    def plan(self, employee: LuccaEmployee, now: datetime) -> AccessPlan:
        """The employee's access plan at `now`."""
        ...


class ZonedPlanner(Planner, Protocol):
    """A planner that also says in which time zone it plans an employee (the sync's)."""

    def zone_of(self, employee: LuccaEmployee) -> ZoneInfo:
        """The time zone of the employee's start and end dates."""
        ...


class Notifications(Protocol):
    """The notices the engines raise, each an email later (`Notifier` fits)."""

    def creating(self, employee_id: str) -> None:
        """Before the POST: remember that this employee's account is being created."""
        ...

    def was_creating(self, employee_id: str) -> bool:
        """Whether the connector set out to create this employee's account lately."""
        ...

    def restored(self, employee_id: str) -> None:
        """The employee's deleted account was restored instead: no "account created" email."""
        ...

    def created(
        self,
        *,
        employee_id: str,
        name: str,
        login: str | None,
        object_id: str,
        opens_at: datetime | None,
        zone: str,
        note: str | None = None,
    ) -> None:
        """The account exists: "account created"."""
        ...

    def not_created(
        self, *, employee_id: str, name: str, login: str | None, reason: str, code: str
    ) -> None:
        """No account: "account not created"."""
        ...

    def linked(
        self, *, employee_id: str, name: str, login: str | None, object_id: str, matched_by: str
    ) -> None:
        """An existing account found by its mail or login was linked: "linked existing
        account"."""
        ...

    def deactivated(
        self,
        *,
        employee_id: str,
        name: str,
        login: str | None,
        object_id: str,
        at: datetime,
        zone: str,
        sessions: str | None = None,
        already_disabled: bool = False,
    ) -> None:
        """The account was disabled for the departure due at `at` (or found disabled by
        someone else: `already_disabled`)."""
        ...

    def deactivation_failed(
        self,
        *,
        employee_id: str,
        name: str,
        login: str | None,
        object_id: str,
        at: datetime,
        zone: str,
        reason: str,
    ) -> None:
        """The disable due at `at` failed for good."""
        ...


# -- the stores -------------------------------------------------------------------------------
class LinkStore(Protocol):
    """Identity links and pending managers (`connector.storage.links.Links` fits)."""

    def of_employee(self, employee_id: str) -> Link | None:
        """The link of a Lucca employee, or None."""
        ...

    def employee_of(self, object_id: str) -> str | None:
        """The Lucca employee an Entra account is linked to, or None."""
        ...

    def link(
        self, employee_id: str, object_id: str, *, how: str, at: datetime, stamped: bool = False
    ) -> Link:
        """Link both ways at once (`stamped`: the account holds the employee's anchor); a
        `Transient` error if either side is linked already."""
        ...

    def set_stamped(self, employee_id: str) -> None:
        """Record that the linked account holds the employee's anchor."""
        ...

    def unlink(self, employee_id: str, *, at: datetime, why: str) -> Link | None:
        """Drop the employee's link and refuse that account to that employee; the link
        dropped, or None."""
        ...

    def is_refused(self, employee_id: str, object_id: str) -> bool:
        """Whether an operator unlinked this account from this employee."""
        ...

    def set_disabled_by_connector(self, employee_id: str, value: bool) -> None:
        """Record whether the connector itself disabled the employee's account."""
        ...

    def set_lifecycle(self, employee_id: str, hire: str | None, leave: str | None) -> None:
        """Record the lifecycle dates last written to the account."""
        ...

    def set_pending_manager(self, report_id: str, manager_id: str | None) -> None:
        """Record (or clear, with None) the manager a linked report is waiting for."""
        ...

    def pending_reports(self, manager_id: str) -> list[str]:
        """The reports waiting for this manager's account."""
        ...


class Schedule(Protocol):
    """The dated enables and disables (`connector.storage.schedule.ScheduleStore` fits)."""

    @property
    def rows_read(self) -> int:
        """Index rows the last `due` read: its cost."""
        ...

    def replace(
        self, employee_id: str, planned: Sequence[PlannedAction], *, who: Who | None = None
    ) -> list[ScheduleChange]:
        """Make the employee's schedule exactly `planned`; returns what changed. `who` (the
        employee's name and login) is kept with it for the daily digest."""
        ...

    def due(self, now: datetime) -> list[ScheduledAction]:
        """Every action whose instant is at or before `now`, soonest first."""
        ...

    def current(self, employee_id: str, key: str) -> ScheduledAction | None:
        """One stored action of an employee, or None."""
        ...

    def done(self, action: ScheduledAction) -> None:
        """The action was carried out (or found already done): drop it."""
        ...

    def give_up(self, action: ScheduledAction) -> None:
        """Drop an action that failed too often, and do not plan it again at its instant."""
        ...

    def failed_once_more(self, action: ScheduledAction) -> int:
        """Count a failed attempt on the action; returns the attempts so far."""
        ...

    def released(self) -> frozenset[str]:
        """Due keys of disables an operator released (RELEASE_HELD_RUN)."""
        ...

    def release(self, due_keys: Sequence[str]) -> None:
        """Remember that these disables were released."""
        ...

    def count_disabled(self, action: ScheduledAction, at: datetime) -> None:
        """Remember that the action's disable was carried out at `at` (the daily cap)."""
        ...

    def disabled_between(self, start: datetime, end: datetime) -> int:
        """Disables carried out in [start, end)."""
        ...

    def entered_between(self, start: datetime, end: datetime, limit: int) -> list[str]:
        """The employees of the disables scheduled or moved in [start, end), at most `limit`."""
        ...

    def entered_alerted(self, day: date) -> bool:
        """Whether the "entered" alert of that local day was said."""
        ...

    def mark_entered_alerted(self, day: date) -> None:
        """The "entered" alert of that local day was said."""
        ...


class Log(Protocol):
    """The integration log (`connector.storage.log.IntegrationLog` fits)."""

    def write(self, entry: LogEntry) -> None:
        """Store one entry."""
        ...

    def for_attention(self, limit: int = 200, action: Action | None = None) -> list[LogEntry]:
        """What waits for an operator's decision, newest first (only `action`'s when given)."""
        ...


class Feed(Protocol):
    """The change feed as the sync and its worker use it (`ChangeFeed` fits)."""

    def remember_resource(self, resource: str, resource_id: str, employee_id: str) -> None:
        """Record that an employment or job position belongs to an employee."""
        ...

    def enqueue(self, message: ChangeMessage, delay_seconds: int) -> None:
        """Put the message on the queue, invisible for `delay_seconds`."""
        ...

    def mark_started(self, employee_id: str, now: datetime) -> None:
        """A sync took the employee's message: later events need a new one."""
        ...

    def mark_applied(self, employee_id: str, read_started_at: datetime) -> None:
        """Lucca's state read at `read_started_at` is applied (never moves backwards)."""
        ...

    def remember_error(
        self, employee_id: str, sentence: str, request_id: str | None, at: datetime
    ) -> None:
        """Keep why the employee's last sync failed."""
        ...

    def last_error(self, employee_id: str) -> tuple[str, str | None] | None:
        """Why the employee's last sync failed, and Graph's request id, if it failed."""
        ...

    def forget_error(self, employee_id: str) -> None:
        """A sync succeeded: no failure to quote any more."""
        ...


class Leases(Protocol):
    """Per-employee leases (`connector.storage.lease.EmployeeLeases` fits)."""

    def acquire(self, employee_id: str) -> str | None:
        """Take the employee's lease: its token, or None when another holds it."""
        ...

    def release(self, employee_id: str, token: str) -> None:
        """Give the lease back, if this token still holds it."""
        ...


if TYPE_CHECKING:

    def _clients_fit(
        lucca: LuccaClient, planner: AccessPlanner, directory: GraphDirectory
    ) -> tuple[LuccaReader, CatchUpLucca, ZonedPlanner, Directory, AccountSwitch]:
        """mypy checks here that the real clients satisfy the protocols."""
        return lucca, lucca, planner, directory, directory
