"""The reconciliation's checks across the population: what one employee's sync cannot see."""

from __future__ import annotations

import unicodedata
from collections import defaultdict
from dataclasses import replace
from typing import TYPE_CHECKING

from connector.domain.mapping import ANCHOR_PREFIX
from connector.flows.reconcile_report import Candidate, Finding, UnknownAnchor, Verdict
from connector.flows.snapshot import Snapshot, SnapshotLinks

if TYPE_CHECKING:
    from connector.entra.users import DirectoryUser
    from connector.lucca.models import LuccaEmployee


def name_key(*parts: str | None) -> str:
    """A person's name, compared without case, accents, punctuation or extra spaces."""
    text = unicodedata.normalize("NFKD", " ".join(p for p in parts if p))
    text = "".join(c for c in text if not unicodedata.combining(c)).casefold()
    return " ".join("".join(c if c.isalnum() else " " for c in text).split())


class NameIndex:
    """Entra accounts by name, for the accounts to create that may exist under another
    email: only accounts not linked and not anchored to another Lucca employee it knows."""

    def __init__(self, snapshot: Snapshot, links: SnapshotLinks) -> None:
        self._by_name: dict[str, list[DirectoryUser]] = defaultdict(list)
        for user in snapshot.users:
            if links.employee_of(user.id) is not None:
                continue
            named = user.properties.get
            keys = {name_key(named("givenName"), named("surname")), name_key(named("displayName"))}
            for key in keys - {""}:
                self._by_name[key].append(user)
        self._knows = snapshot.knows

    def candidates(self, employee: LuccaEmployee) -> tuple[Candidate, ...]:
        """The accounts carrying the employee's name that may be theirs, with what to check."""
        key = name_key(employee.given_name, employee.family_name)
        found = []
        for user in self._by_name.get(key, []) if key else []:
            holder = (user.employee_id or "").removeprefix(ANCHOR_PREFIX)
            if user.employee_id and holder != employee.id and self._knows(holder):
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


def one_employee_per_account(findings: list[Finding]) -> list[Finding]:
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


def unknown_anchors(snapshot: Snapshot) -> list[UnknownAnchor]:
    """Accounts whose `employeeId` is `lucca-<id>` for an id Lucca does not show."""
    found = []
    for user in snapshot.users:
        mark = user.employee_id or ""
        if mark.startswith(ANCHOR_PREFIX) and not snapshot.knows(mark.removeprefix(ANCHOR_PREFIX)):
            found.append(
                UnknownAnchor(
                    id=user.id,
                    user_principal_name=user.user_principal_name or "",
                    anchor=mark,
                    account_enabled=user.account_enabled,
                )
            )
    return sorted(found, key=lambda a: a.anchor)
