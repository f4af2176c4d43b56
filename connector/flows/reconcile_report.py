"""The reconciliation's report: a verdict and a finding per employee, and what applying did."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from connector.domain.entries import Action, Change


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
    LEFT_SCOPE = "left the scope"  # linked, out of SYNC_SCOPE, its exit disable not scheduled
    NOTHING = "nothing to do"
    FAILED = "not planned"


# What `--apply` (and the nightly run) hands to the sync; the rest waits for a person.
APPLIED = frozenset({Verdict.TO_UPDATE, Verdict.TO_LINK, Verdict.TO_CREATE, Verdict.LEFT_SCOPE})
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


@dataclass(frozen=True)
class ScopeCount:
    """How many of the employees read SYNC_SCOPE keeps (the others are not reconciled)."""

    kept: int
    read: int

    def sentence(self) -> str:
        """One line for the report."""
        return (
            f"SYNC_SCOPE keeps {self.kept} of {employees(self.read)} read; the others are "
            "neither created, matched nor changed."
        )

    def to_json(self) -> dict[str, int]:
        """As `--json` shows it."""
        return {"kept": self.kept, "read": self.read}


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
    scope: ScopeCount | None = None  # None: no SYNC_SCOPE, everyone is reconciled

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
            "scope": self.scope.to_json() if self.scope else None,
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


def employees(number: int) -> str:
    """`1 employee`, `2 employees`."""
    return f"{number} employee{'' if number == 1 else 's'}"


# The verdict of an employee the observing sync ended with this action.
FROM_ACTION = {
    Action.UNCHANGED: Verdict.IN_STEP,
    Action.UPDATED: Verdict.TO_UPDATE,
    Action.LINKED: Verdict.TO_LINK,
    Action.CREATED: Verdict.TO_CREATE,
    Action.RESTORED: Verdict.TO_CREATE,  # a deleted account restored instead of a new one
    Action.CONFLICT: Verdict.CONFLICT,
    Action.UNLINKED_IN_ENTRA: Verdict.CONFLICT,
    Action.CREATION_FAILED: Verdict.CANNOT_CREATE,
    Action.SKIPPED: Verdict.NOTHING,
}
