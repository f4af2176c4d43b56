"""The reconciliation: the whole population, Lucca against Entra, at go-live and every night.

Reading costs a few requests, never one per employee: Lucca's employees (every status) in
pages of 100 with their embedded employment and job position, through the shared limiter;
the directory in pages with `$select` (and the manager expanded); the identity links and the
schedule from Table Storage, one query each.

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

import unicodedata
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Literal
from zoneinfo import ZoneInfo

from connector.core.errors import ConnectorError, NotFound, Transient
from connector.domain.access import AccessPlanner
from connector.domain.contract_dates import AccessPlan
from connector.domain.entries import Action, Change, LogEntry
from connector.domain.links import Link
from connector.domain.mapping import ANCHOR_PREFIX, Attribute, anchor
from connector.domain.messages import ChangeMessage
from connector.domain.scheduled import ACTION_PREFIX
from connector.flows.dates import actions_to_keep
from connector.flows.sync import SyncService
from connector.notify.notifier import DISABLED
from connector.storage.changes import ChangeFeed
from connector.storage.lease import EmployeeLeases
from connector.storage.links import Links
from connector.storage.log import IntegrationLog
from connector.storage.schedule import GIVEN_UP_PREFIX, SCHEDULE_TABLE

if TYPE_CHECKING:
    from connector.entra.directory import DirectoryUser, Domain, FindBy, GraphDirectory
    from connector.lucca.client import (
        LuccaClient,
        LuccaDepartment,
        LuccaEmployee,
        LuccaEmployment,
        LuccaEstablishment,
        LuccaLegalEntity,
    )
    from connector.storage.tables import Storage

STATUSES: tuple[Literal["active", "upcoming", "deactivated"], ...] = (
    "active",
    "upcoming",
    "deactivated",
)
RECONCILE_EVENT = "reconcile"  # the `event_key` prefix of a change the reconciliation queues
Progress = Callable[[str, int, int], None]  # (phase, done, total)


def _silent(phase: str, done: int, total: int) -> None:
    """No progress shown."""


class Verdict(StrEnum):
    """What the reconciliation found for one employee."""

    IN_STEP = "in step"
    TO_UPDATE = "to update"
    TO_LINK = "to link"
    TO_CREATE = "to create"
    LIKELY_DUPLICATE = "likely duplicate"
    CONFLICT = "conflict"
    CANNOT_CREATE = "cannot be created"
    LEFT_ENABLED = "left long ago, account enabled"
    NOTHING = "nothing to do"
    FAILED = "not planned"


# What `--apply` (and the nightly run) hands to the sync; the rest waits for a person.
APPLIED = frozenset({Verdict.TO_UPDATE, Verdict.TO_LINK, Verdict.TO_CREATE})
# What a person must look at: the report lists them and the command exits 1.
NEEDS_A_PERSON = frozenset(
    {
        Verdict.LIKELY_DUPLICATE,
        Verdict.CONFLICT,
        Verdict.CANNOT_CREATE,
        Verdict.LEFT_ENABLED,
        Verdict.FAILED,
    }
)
# The endings after which the sync stores the employee's schedule.
_SCHEDULED_AFTER = frozenset({Action.UNCHANGED, Action.UPDATED, Action.LINKED, Action.CREATED})
_FROM_ACTION = {
    Action.UNCHANGED: Verdict.IN_STEP,
    Action.UPDATED: Verdict.TO_UPDATE,
    Action.LINKED: Verdict.TO_LINK,
    Action.CREATED: Verdict.TO_CREATE,
    Action.CONFLICT: Verdict.CONFLICT,
    Action.CREATION_FAILED: Verdict.CANNOT_CREATE,
    Action.SKIPPED: Verdict.NOTHING,
}


@dataclass(frozen=True, kw_only=True)
class Candidate:
    """An Entra account that may be the employee's."""

    id: str
    user_principal_name: str
    reasons: str = ""

    def to_json(self) -> dict[str, str]:
        """As `--json` shows it."""
        return {
            "id": self.id,
            "userPrincipalName": self.user_principal_name,
            "reasons": self.reasons,
        }


@dataclass(frozen=True, kw_only=True)
class Finding:
    """One employee of the population: what was found and what would be done."""

    employee_id: str
    name: str
    email: str | None
    status: str
    verdict: Verdict
    message: str
    object_id: str | None = None
    matched_by: str | None = None
    changes: tuple[Change, ...] = ()
    candidates: tuple[Candidate, ...] = ()
    schedule: tuple[str, ...] = ()  # the actions to store, when they differ from the stored
    schedule_differs: bool = False

    @property
    def to_apply(self) -> bool:
        """Whether `--apply` runs the sync for this employee."""
        return self.verdict in APPLIED or (
            self.schedule_differs and self.verdict is Verdict.IN_STEP
        )

    def to_json(self) -> dict[str, Any]:
        """As `--json` shows it."""
        return {
            "employee_id": self.employee_id,
            "name": self.name,
            "email": self.email,
            "status": self.status,
            "verdict": self.verdict.value,
            "message": self.message,
            "object_id": self.object_id,
            "matched_by": self.matched_by,
            "changes": [
                {"attribute": c.attribute, "old": c.old, "new": c.new} for c in self.changes
            ],
            "candidates": [c.to_json() for c in self.candidates],
            "schedule": list(self.schedule),
            "schedule_differs": self.schedule_differs,
            "to_apply": self.to_apply,
        }


@dataclass(frozen=True, kw_only=True)
class UnknownAnchor:
    """An Entra account whose `employeeId` names a Lucca employee Lucca does not know."""

    id: str
    user_principal_name: str
    anchor: str
    account_enabled: bool | None

    def to_json(self) -> dict[str, Any]:
        """As `--json` shows it."""
        return {
            "id": self.id,
            "userPrincipalName": self.user_principal_name,
            "employeeId": self.anchor,
            "accountEnabled": self.account_enabled,
        }


@dataclass(kw_only=True)
class Report:
    """The plan of a reconciliation, and what it costs to read."""

    read_at: datetime
    findings: list[Finding]
    unknown_anchors: list[UnknownAnchor]
    lucca_employees: int
    entra_users: int
    lucca_requests: int = 0
    graph_requests: int = 0

    def of(self, verdict: Verdict) -> list[Finding]:
        """The findings with this verdict."""
        return [f for f in self.findings if f.verdict is verdict]

    @property
    def to_apply(self) -> list[Finding]:
        """What `--apply` hands to the sync."""
        return [f for f in self.findings if f.to_apply]

    @property
    def needs_a_person(self) -> bool:
        """Whether anything waits for a person (the command then exits 1)."""
        return bool(self.unknown_anchors) or any(f.verdict in NEEDS_A_PERSON for f in self.findings)

    def counts(self) -> dict[str, int]:
        """How many findings of each verdict (only those with one)."""
        counted: dict[str, int] = {}
        for verdict in Verdict:
            number = len(self.of(verdict))
            if number:
                counted[verdict.value] = number
        return counted

    def summary(self) -> str:
        """One line: the population and the verdicts."""
        parts = [f"{n} {verdict}" for verdict, n in self.counts().items()]
        scheduled = sum(1 for f in self.findings if f.schedule_differs)
        if scheduled:
            parts.append(f"{scheduled} with actions to schedule")
        if self.unknown_anchors:
            parts.append(f"{len(self.unknown_anchors)} Entra accounts with an unknown anchor")
        return f"{employees(len(self.findings))} reconciled: " + ", ".join(parts or ["nothing"])

    def to_json(self) -> dict[str, Any]:
        """As `--json` shows it."""
        return {
            "read_at": self.read_at.isoformat(),
            "lucca_employees": self.lucca_employees,
            "entra_users": self.entra_users,
            "counts": self.counts(),
            "to_apply": len(self.to_apply),
            "findings": [f.to_json() for f in self.findings],
            "unknown_anchors": [a.to_json() for a in self.unknown_anchors],
        }


@dataclass(kw_only=True)
class Applied:
    """What applying did: the sync's action for each employee handed to it."""

    actions: dict[str, Action] = field(default_factory=dict)
    busy: list[str] = field(default_factory=list)  # another sync held the lease: queued
    changed_since: list[str] = field(default_factory=list)  # synced or queued since the read
    requeued: dict[str, str] = field(default_factory=dict)  # transient failure: queued

    def counts(self) -> dict[str, int]:
        """How many syncs ended with each action."""
        counted: dict[str, int] = defaultdict(int)
        for action in self.actions.values():
            counted[action.value] += 1
        return dict(counted)

    def summary(self) -> str:
        """One line."""
        parts = [f"{n} {action}" for action, n in sorted(self.counts().items())]
        if self.busy:
            parts.append(f"{len(self.busy)} busy (queued)")
        if self.changed_since:
            parts.append(f"{len(self.changed_since)} changed since the read (left to the queue)")
        if self.requeued:
            parts.append(f"{len(self.requeued)} stopped by a passing failure (queued)")
        return "applied: " + (", ".join(parts) if parts else "nothing to apply")

    def to_json(self) -> dict[str, Any]:
        """As `--json` shows it."""
        return {
            "actions": {k: v.value for k, v in self.actions.items()},
            "counts": self.counts(),
            "busy": self.busy,
            "changed_since": self.changed_since,
            "requeued": self.requeued,
        }


# -- the snapshot ------------------------------------------------------------------------------
def employees(number: int) -> str:
    """`1 employee`, `2 employees`."""
    return f"{number} employee{'' if number == 1 else 's'}"


def _casefold(value: str | None) -> str:
    # lower(), not casefold(): Graph does not take "ß" for "ss".
    return (value or "").strip().lower()


def name_key(*parts: str | None) -> str:
    """A person's name, compared without case, accents, punctuation or extra spaces."""
    text = unicodedata.normalize("NFKD", " ".join(p for p in parts if p))
    text = "".join(c for c in text if not unicodedata.combining(c)).casefold()
    return " ".join("".join(c if c.isalnum() else " " for c in text).split())


class SnapshotDirectory:
    """The directory as listed once: the sync's reads answered from memory, no write."""

    def __init__(self, users: Iterable[DirectoryUser], live: GraphDirectory) -> None:
        self._live = live
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

    def __init__(self, links: Iterable[Link]) -> None:  # no storage: nothing is read again
        self._of_employee = {link.employee_id: link for link in links}
        self._of_object = {link.object_id: link.employee_id for link in self._of_employee.values()}

    def of_employee(self, employee_id: str) -> Link | None:
        """The employee's link, as read."""
        return self._of_employee.get(employee_id)

    def employee_of(self, object_id: str) -> str | None:
        """The employee an account is linked to, as read."""
        return self._of_object.get(object_id)

    def all(self) -> list[Link]:
        """Every link, as read."""
        return list(self._of_employee.values())

    def link(self, employee_id: str, object_id: str, *, how: str, at: datetime) -> Link:
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


class _Collected(IntegrationLog):
    """The plan's entries, kept in memory: a plan writes no integration log entry."""

    def __init__(self) -> None:  # no storage
        self.entries: list[LogEntry] = []

    def write(self, entry: LogEntry) -> None:
        self.entries.append(entry)


class _Unqueued(ChangeFeed):
    """A plan remembers no resource and queues nothing."""

    def __init__(self) -> None:  # no storage
        pass

    def remember_resource(self, resource: str, resource_id: str, employee_id: str) -> None:
        return None

    def enqueue(self, message: ChangeMessage, delay_seconds: int) -> None:
        raise RuntimeError("a reconciliation's plan queues nothing")


class _RecordingPlanner(AccessPlanner):
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
        into[employee_id].add((kind, employment, _utc(row["At"])))
    return {
        employee: Stored(frozenset(actions[employee]), frozenset(given_up[employee]))
        for employee in actions.keys() | given_up.keys()
    }


def _utc(moment: datetime) -> datetime:
    return datetime.fromtimestamp(moment.timestamp(), UTC)


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
    ) -> None:
        self._attributes = attributes
        self._organisation_kinds = organisation  # read whole: each is needed for many
        self._lifecycle_dates = lifecycle_dates
        self._sync_upn = sync_upn
        self._delay_seconds = delay_seconds
        self._storage = storage
        self._lucca = lucca
        self._directory = directory
        self._planner = planner
        self._build_service = build_service
        self._clock = clock
        self._zone = ZoneInfo(zone)
        self._left_days = left_days

    # -- reading ----------------------------------------------------------------------------
    def read(self, progress: Progress = _silent) -> Snapshot:
        """Lucca's employees, the directory, the links and the schedule, once each."""
        read_at = self._clock()
        for kind in self._organisation_kinds:
            self._lucca.preload(kind)
        employees: dict[str, LuccaEmployee] = {}
        for employee in self._lucca.employees(statuses=STATUSES):
            employees[employee.id] = employee
            if len(employees) % 100 == 0:
                progress("reading Lucca", len(employees), 0)
        progress("reading Entra", 0, 0)
        users = self._directory.list_users()
        return Snapshot(
            read_at=read_at,
            employees=employees,
            users=users,
            links=Links(self._storage).all(),
            stored_schedule=read_stored_schedule(self._storage),
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
        links = SnapshotLinks(snapshot.links)
        log = _Collected()
        planner = _RecordingPlanner(self._planner, lucca)
        service = SyncService(
            lucca=lucca,
            directory=directory,
            feed=_Unqueued(),
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
        )
        state = _Pass(
            service=service,
            log=log,
            planner=planner,
            directory=directory,
            names=_NameIndex(snapshot, links),
            snapshot=snapshot,
        )
        findings = []
        for done, employee in enumerate(population, start=1):
            findings.append(self._judge(state, employee))
            progress("planning", done, len(population))
        findings = _one_employee_per_account(findings)
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
            unknown_anchors=_unknown_anchors(snapshot),
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
        verdict = _FROM_ACTION.get(entry.action, Verdict.FAILED)
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
        wanted = [(a.kind, a.employment_id, _utc(a.at)) for a in actions]
        stored = state.snapshot.stored_schedule.get(employee.id, Stored())
        return tuple(a.describe() for a in actions), stored.differs(wanted)

    # -- applying ---------------------------------------------------------------------------
    def apply(self, report: Report, snapshot: Snapshot, progress: Progress = _silent) -> Applied:
        """The real sync for each employee to apply, under its lease; a busy employee or a
        passing failure is queued for the change worker, so nothing is lost."""
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
                if _changed_since(feed, employee_id, report.read_at):
                    # A sync since the read, or an event queued after it: Lucca's state was
                    # read again (or will be); the snapshot's older one must not overwrite it.
                    applied.changed_since.append(employee_id)
                    continue
                entry = service.sync(employee_id, employee=snapshot.employees[employee_id])
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
    log: _Collected
    planner: _RecordingPlanner
    directory: SnapshotDirectory
    names: _NameIndex
    snapshot: Snapshot


class _NameIndex:
    """Entra accounts by name, for the accounts to create that may exist under another
    email: only accounts not linked and not anchored to another Lucca employee it knows."""

    def __init__(self, snapshot: Snapshot, links: SnapshotLinks) -> None:
        self._by_name: dict[str, list[DirectoryUser]] = defaultdict(list)
        for user in snapshot.users:
            if links.employee_of(user.id) is not None:
                continue
            keys = {name_key(user.given_name, user.surname), name_key(user.display_name)}
            for key in keys - {""}:
                self._by_name[key].append(user)
        self._known = snapshot.employees

    def candidates(self, employee: LuccaEmployee) -> tuple[Candidate, ...]:
        key = name_key(employee.given_name, employee.family_name)
        found = []
        for user in self._by_name.get(key, []) if key else []:
            holder = (user.employee_id or "").removeprefix(ANCHOR_PREFIX)
            if user.employee_id and holder != employee.id and holder in self._known:
                continue  # another employee's account: a namesake
            reasons = []
            if user.account_enabled is False:
                reasons.append("disabled")
            if (user.user_type or "Member").lower() == "guest":
                reasons.append("a guest account")
            if user.employee_id:
                reasons.append(f"employeeId {user.employee_id!r}")
            found.append(
                Candidate(
                    id=user.id,
                    user_principal_name=user.user_principal_name or "",
                    reasons="; ".join(reasons),
                )
            )
        return tuple(found)


def _changed_since(feed: ChangeFeed, employee_id: str, read_at: datetime) -> bool:
    """Whether a sync applied Lucca's state read after `read_at`, or an event came after it."""
    applied = feed.applied_through(employee_id)
    if applied is not None and applied > read_at:
        return True
    pending = feed.pending(employee_id)
    return pending is not None and pending.since > read_at


def _one_employee_per_account(findings: list[Finding]) -> list[Finding]:
    """Two employees the plan would link to one account (a leaver and a rehire sharing an
    email, say): neither is linked, a person says whose it is."""
    claims: dict[str, list[Finding]] = defaultdict(list)
    for f in findings:
        if f.verdict is Verdict.TO_LINK and f.object_id:
            claims[f.object_id].append(f)
    shared = {oid: fs for oid, fs in claims.items() if len(fs) > 1}
    if not shared:
        return findings
    out = []
    for f in findings:
        rivals = shared.get(f.object_id or "") if f.verdict is Verdict.TO_LINK else None
        if not rivals:
            out.append(f)
            continue
        others = ", ".join(f"{r.employee_id} ({r.name}, {r.status})" for r in rivals if r is not f)
        out.append(
            replace(
                f,
                verdict=Verdict.CONFLICT,
                message=(
                    f"Account {f.object_id} (matched by {f.matched_by}) would also be linked to "
                    f"employee {others}: nothing is linked. Put lucca-<id> of its owner in its "
                    "employeeId."
                ),
                changes=(),
                schedule=(),
                schedule_differs=False,
            )
        )
    return out


def _unknown_anchors(snapshot: Snapshot) -> list[UnknownAnchor]:
    """Accounts whose `employeeId` is `lucca-<id>` for an id Lucca does not show."""
    found = []
    for user in snapshot.users:
        mark = user.employee_id or ""
        if mark.startswith(ANCHOR_PREFIX) and mark.removeprefix(ANCHOR_PREFIX) not in (
            snapshot.employees
        ):
            found.append(
                UnknownAnchor(
                    id=user.id,
                    user_principal_name=user.user_principal_name or "",
                    anchor=mark,
                    account_enabled=user.account_enabled,
                )
            )
    return sorted(found, key=lambda a: a.anchor)
