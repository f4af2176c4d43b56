"""SYNC_SCOPE in the reconciliation (`reconcile` and the nightly run): out of scope is neither
created, nor matched, nor changed, and the report says how many employees the scope keeps.

`ScopedReconciliation` judges every employee read (their custom fields read 100 employees a
request) and plans only those the scope keeps: the others leave the snapshot before planning,
so they are never a creation, a link or an update, nor a leaver "left long ago, account
enabled", while their anchors stay known (never "unknown anchors"). One case is handed to the
sync: with SCOPE_EXIT_ACTION=disable, a LINKED employee of the population, out of scope, whose
account is enabled and who has no disable in the schedule (the scope changed without an event
the sync saw: a custom field, a department moved in the tree). The sync's gate then schedules
the exit disable at the next local midnight, through the leavers' schedule and holds.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

from connector.flows.reconcile import Progress, Reconciliation
from connector.flows.reconcile_report import Finding, Report, ScopeCount, Verdict

if TYPE_CHECKING:
    from connector.domain.scope_facts import ScopeJudge
    from connector.flows.scope_gate import ExitAction
    from connector.flows.snapshot import Snapshot
    from connector.lucca.models import LuccaEmployee


def _silent(phase: str, done: int, total: int) -> None:
    """No progress shown."""


class ScopedReconciliation(Reconciliation):
    """The reconciliation of the employees SYNC_SCOPE keeps."""

    def __init__(self, *, judge: ScopeJudge, exit_action: ExitAction, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._scope_judge = judge
        self._exit_action = exit_action

    def plan(self, snapshot: Snapshot, progress: Progress = _silent) -> Report:
        """The plan of the employees the scope keeps; the exits the sync has not seen."""
        employees = snapshot.employees
        with self._scope_judge.reading_ahead(list(employees)):
            outside = {i: e for i, e in employees.items() if not self._scope_judge.keeps(e)}
        kept = {i: e for i, e in employees.items() if i not in outside}
        known = (snapshot.known or frozenset()) | frozenset(outside)
        report = super().plan(replace(snapshot, employees=kept, known=known), progress)
        report.lucca_employees = len(employees)
        report.findings += self._exits(snapshot, outside)
        report.scope = ScopeCount(kept=len(kept), read=len(employees))
        return report

    def _exits(self, snapshot: Snapshot, outside: dict[str, LuccaEmployee]) -> list[Finding]:
        """Linked employees out of scope whose enabled account no disable awaits."""
        if self._exit_action != "disable":
            return []
        today = snapshot.read_at.astimezone(self._zone).date()
        links = {link.employee_id: link for link in snapshot.links}
        users = {user.id: user for user in snapshot.users}
        found = []
        for employee_id, employee in sorted(outside.items(), key=lambda i: (len(i[0]), i[0])):
            link = links.get(employee_id)
            user = users.get(link.object_id) if link else None
            if user is None or user.account_enabled is False:
                continue
            if not self.in_population(employee, today):
                continue
            stored = snapshot.stored_schedule.get(employee_id)
            if stored and any(a[0] == "disable" for a in stored.actions | stored.given_up):
                continue
            name = f"{employee.given_name} {employee.family_name}".strip()
            found.append(
                Finding(
                    employee_id=employee_id,
                    name=name,
                    email=employee.email,
                    status=employee.status,
                    verdict=Verdict.LEFT_SCOPE,
                    message=(
                        f"{name} is outside SYNC_SCOPE and linked to "
                        f"{user.user_principal_name or user.id}, which is enabled with no "
                        "disable scheduled: the sync schedules the disable at the next local "
                        "midnight (SCOPE_EXIT_ACTION=disable)."
                    ),
                    object_id=user.id,
                    matched_by="link",
                )
            )
        return found
