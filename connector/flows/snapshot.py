"""The reconciliation's snapshot: everything a plan compares, read once, and the sync's ports
answered from it, writing nothing."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from connector.core.errors import NotFound
from connector.domain.access import AccessPlanner
from connector.domain.contract_dates import AccessPlan
from connector.domain.entries import LogEntry
from connector.domain.links import Link
from connector.domain.messages import ChangeMessage
from connector.domain.scheduled import ACTION_PREFIX
from connector.storage.changes import ChangeFeed
from connector.storage.links import Links
from connector.storage.log import IntegrationLog
from connector.storage.schedule import GIVEN_UP_PREFIX, SCHEDULE_TABLE

if TYPE_CHECKING:
    from connector.entra.deleted import DeletedUser
    from connector.entra.directory import GraphDirectory
    from connector.entra.scope import MatchScope
    from connector.entra.users import DirectoryUser, Domain, FindBy
    from connector.lucca.client import LuccaClient
    from connector.lucca.models import (
        LuccaDepartment,
        LuccaEmployee,
        LuccaEmployment,
        LuccaEstablishment,
        LuccaLegalEntity,
    )
    from connector.storage.tables import Storage


def _casefold(value: str | None) -> str:
    # lower(), not casefold(): Graph does not take "ß" for "ss".
    return (value or "").strip().lower()


class SnapshotDirectory:
    """The directory as listed once: the sync's reads answered from memory, no write."""

    def __init__(self, users: Iterable[DirectoryUser], live: GraphDirectory) -> None:
        self._live = live
        self._roles: dict[str, list[str]] | None = None
        self._deleted: list[DeletedUser] | None = None
        self.users = list(users)
        self._by_id = {u.id: u for u in self.users}
        self._by: dict[str, dict[str, list[DirectoryUser]]] = {
            prop: defaultdict(list) for prop in ("employeeId", "mail", "userPrincipalName")
        }
        for user in self.users:
            for prop, value in (
                ("employeeId", user.employee_id),
                ("mail", user.mail),
                ("userPrincipalName", user.user_principal_name),
            ):
                if value:
                    self._by[prop][_casefold(value)].append(user)

    def get_user(self, object_id: str) -> DirectoryUser | None:
        """A user by object id or login, with its manager."""
        user = self._by_id.get(object_id)
        if user is None:
            found = self._by["userPrincipalName"].get(_casefold(object_id), [])
            user = found[0] if found else None
        return user

    def find_users(self, prop: FindBy, value: str) -> list[DirectoryUser]:
        """Users whose `prop` equals `value`, without case (as Graph compares)."""
        return list(self._by[prop].get(_casefold(value), []))

    def address_holders(self, address: str) -> list[DirectoryUser]:
        """Users holding `address` as login or mail (aliases are not in the snapshot: the
        POST would meet them)."""
        found = self.find_users("userPrincipalName", address) + self.find_users("mail", address)
        return list({u.id: u for u in found}.values())

    def manager_id(self, object_id: str) -> str | None:
        """The manager listed with the user."""
        user = self._by_id.get(object_id)
        if user is None:
            raise NotFound(f"no user {object_id} in the directory", service="graph")
        return user.manager_id

    def domains(self) -> list[Domain]:
        """The tenant's domains (one cached read)."""
        return self._live.domains()

    def granted_roles(self) -> frozenset[str] | None:
        """The roles in the connector's Graph token."""
        return self._live.granted_roles()

    def directory_roles(self, object_id: str) -> list[str]:
        """The account's directory roles: every assignment of the tenant is read once, at the
        first account asked about (not once per account)."""
        if self._roles is None:
            self._roles = self._live.everyones_directory_roles()
        return list(self._roles.get(object_id, []))

    def in_scope(self, object_id: str, scope: MatchScope) -> bool:
        """Whether the account is in MATCH_SCOPE, read live."""
        return self._live.in_scope(object_id, scope)

    def deleted_holders(self, login: str) -> list[DeletedUser]:
        """The deleted users holding `login`: every deleted user is read once, at the first
        ask (not once per employee)."""
        return [
            u for u in self._every_deleted() if _casefold(u.user_principal_name) == _casefold(login)
        ]

    def deleted_user(self, object_id: str) -> DeletedUser | None:
        """The deleted user with this object id, from the same one read."""
        return next((u for u in self._every_deleted() if u.id == object_id), None)

    def _every_deleted(self) -> list[DeletedUser]:
        if self._deleted is None:
            self._deleted = self._live.every_deleted_user()
        return self._deleted

    def restore(self, object_id: str) -> DirectoryUser:
        """Never: a plan writes nothing."""
        raise RuntimeError("a reconciliation's plan writes nothing to Entra")

    def add_to_scope(self, scope: MatchScope, object_id: str) -> None:
        """Never: a plan writes nothing."""
        raise RuntimeError("a reconciliation's plan writes nothing to Entra")

    def create_user(self, properties: Mapping[str, object], password: str) -> DirectoryUser:
        """Never: a plan writes nothing."""
        raise RuntimeError("a reconciliation's plan writes nothing to Entra")

    def update_user(self, object_id: str, properties: Mapping[str, object]) -> None:
        """Never: a plan writes nothing."""
        raise RuntimeError("a reconciliation's plan writes nothing to Entra")

    def set_manager(self, object_id: str, manager_object_id: str) -> None:
        """Never: a plan writes nothing."""
        raise RuntimeError("a reconciliation's plan writes nothing to Entra")

    def remove_manager(self, object_id: str) -> None:
        """Never: a plan writes nothing."""
        raise RuntimeError("a reconciliation's plan writes nothing to Entra")


class SnapshotLinks(Links):
    """The identity links as read once; a plan writes none."""

    def __init__(  # no storage: nothing is read again
        self, links: Iterable[Link], refused: frozenset[tuple[str, str]] = frozenset()
    ) -> None:
        self._of_employee = {link.employee_id: link for link in links}
        self._of_object = {link.object_id: link.employee_id for link in self._of_employee.values()}
        self._refused = refused

    def of_employee(self, employee_id: str) -> Link | None:
        """The employee's link, as read."""
        return self._of_employee.get(employee_id)

    def employee_of(self, object_id: str) -> str | None:
        """The employee an account is linked to, as read."""
        return self._of_object.get(object_id)

    def all(self) -> list[Link]:
        """Every link, as read."""
        return list(self._of_employee.values())

    def is_refused(self, employee_id: str, object_id: str) -> bool:
        """Whether an operator unlinked this account from this employee, as read."""
        return (employee_id, object_id) in self._refused

    def link(
        self, employee_id: str, object_id: str, *, how: str, at: datetime, stamped: bool = False
    ) -> Link:
        """Never: a plan writes nothing."""
        raise RuntimeError("a reconciliation's plan writes no link")

    def set_stamped(self, employee_id: str) -> None:
        """Never: a plan writes nothing."""
        raise RuntimeError("a reconciliation's plan writes no link")

    def unlink(self, employee_id: str, *, at: datetime, why: str) -> Link | None:
        """Never: a plan writes nothing."""
        raise RuntimeError("a reconciliation's plan writes no link")

    def set_disabled_by_connector(self, employee_id: str, value: bool) -> None:
        """Never: a plan writes nothing."""
        raise RuntimeError("a reconciliation's plan writes no link")

    def set_lifecycle(self, employee_id: str, hire: str | None, leave: str | None) -> None:
        """Never: a plan writes nothing."""
        raise RuntimeError("a reconciliation's plan writes no link")

    def set_pending_manager(self, report_id: str, manager_id: str | None) -> None:
        """Never: a plan writes nothing."""
        raise RuntimeError("a reconciliation's plan writes no link")


class SnapshotLucca:
    """The employees as listed; their organisation and employments from Lucca (cached)."""

    def __init__(
        self,
        employees: Mapping[str, LuccaEmployee],
        live: LuccaClient,
        employments: Mapping[str, list[LuccaEmployment]] | None = None,
    ) -> None:
        self._employees = employees
        self._live = live
        self._employments = employments or {}

    def employee(self, employee_id: str) -> LuccaEmployee:
        """The employee as listed."""
        found = self._employees.get(employee_id)
        if found is None:
            raise NotFound(f"employee {employee_id} is not in the list read", service="lucca")
        return found

    def department(self, department_id: str) -> LuccaDepartment:
        """A department (the client caches it)."""
        return self._live.department(department_id)

    def legal_entity(self, legal_entity_id: str) -> LuccaLegalEntity:
        """A legal entity (cached)."""
        return self._live.legal_entity(legal_entity_id)

    def establishment(self, establishment_id: str) -> LuccaEstablishment:
        """A business establishment (cached)."""
        return self._live.establishment(establishment_id)

    def employments(self, employee_id: str) -> list[LuccaEmployment]:
        """The employee's employments, as read for the plan (else one request)."""
        found = self._employments.get(employee_id)
        return list(found) if found is not None else self._live.employments(employee_id)


class Collected(IntegrationLog):
    """The plan's entries, kept in memory: a plan writes no integration log entry."""

    def __init__(self) -> None:  # no storage
        self.entries: list[LogEntry] = []

    def write(self, entry: LogEntry) -> None:
        self.entries.append(entry)


class Unqueued(ChangeFeed):
    """A plan remembers no resource and queues nothing."""

    def __init__(self) -> None:  # no storage
        pass

    def remember_resource(self, resource: str, resource_id: str, employee_id: str) -> None:
        return None

    def enqueue(self, message: ChangeMessage, delay_seconds: int) -> None:
        raise RuntimeError("a reconciliation's plan queues nothing")


class RecordingPlanner(AccessPlanner):
    """The access planner, keeping each employee's plan for the schedule comparison."""

    def __init__(self, planner: AccessPlanner, lucca: SnapshotLucca) -> None:
        self.__dict__.update(planner.__dict__)
        self._lucca = lucca  # the employments read for the whole plan
        self.plans: dict[str, AccessPlan] = {}

    def plan(self, employee: LuccaEmployee, now: datetime) -> AccessPlan:
        access = super().plan(employee, now)
        self.plans[employee.id] = access
        return access


@dataclass(frozen=True, kw_only=True)
class Snapshot:
    """Everything a plan compares, read once."""

    read_at: datetime
    employees: dict[str, LuccaEmployee]  # every status: the anchors Lucca knows
    users: list[DirectoryUser]
    links: list[Link]
    stored_schedule: dict[str, Stored]
    refused: frozenset[tuple[str, str]] = frozenset()  # (employee, account) an operator unlinked
    # Ids Lucca is known to have beyond `employees` (a slice of the nightly run reads only part
    # of the population); None: `employees` is everyone.
    known: frozenset[str] | None = None

    def knows(self, employee_id: str) -> bool:
        """Whether Lucca has this employee, as far as this snapshot tells."""
        return employee_id in self.employees or (
            self.known is not None and employee_id in self.known
        )


ActionKey = tuple[str, str, datetime]  # kind, employment id, UTC instant


@dataclass(frozen=True)
class Stored:
    """One employee's stored actions, and those given up (left for an operator)."""

    actions: frozenset[ActionKey] = frozenset()
    given_up: frozenset[ActionKey] = frozenset()

    def differs(self, wanted: Iterable[ActionKey]) -> bool:
        """Whether storing `wanted` would change the schedule: as `ScheduleStore.replace`, an
        action given up at the same instant is not planned again."""
        return frozenset(w for w in wanted if w not in self.given_up) != self.actions


def read_stored_schedule(storage: Storage) -> dict[str, Stored]:
    """Every employee's stored and given-up actions, one query."""

    def query(table: Any) -> list[dict[str, Any]]:
        return [
            dict(row)
            for row in table.query_entities(
                "PartitionKey ge @lo and PartitionKey lt @hi",
                parameters={"lo": "employee-", "hi": "employee."},
                select=["PartitionKey", "RowKey", "At"],
            )
        ]

    actions: dict[str, set[ActionKey]] = defaultdict(set)
    given_up: dict[str, set[ActionKey]] = defaultdict(set)
    for row in storage.on_table(SCHEDULE_TABLE, query):
        row_key = str(row["RowKey"])
        key = row_key.removeprefix(GIVEN_UP_PREFIX)
        if not key.startswith(ACTION_PREFIX) or row.get("At") is None:
            continue
        kind, _, employment = key.removeprefix(ACTION_PREFIX).partition("-")
        employee_id = str(row["PartitionKey"]).removeprefix("employee-")
        into = given_up if row_key.startswith(GIVEN_UP_PREFIX) else actions
        into[employee_id].add((kind, employment, as_utc(row["At"])))
    return {
        employee: Stored(frozenset(actions[employee]), frozenset(given_up[employee]))
        for employee in actions.keys() | given_up.keys()
    }


def as_utc(moment: datetime) -> datetime:
    """The same instant, in UTC (a stored schedule's and a plan's compare equal)."""
    return datetime.fromtimestamp(moment.timestamp(), UTC)


def changed_since(feed: ChangeFeed, employee_id: str, read_at: datetime) -> bool:
    """Whether a sync applied Lucca's state read after `read_at`, or an event came after it."""
    applied = feed.applied_through(employee_id)
    if applied is not None and applied > read_at:
        return True
    pending = feed.pending(employee_id)
    return pending is not None and pending.since > read_at
