"""The doctor's SYNC_SCOPE line: how many of the active and upcoming employees the scope keeps.

Without a scope it costs nothing. With one, it reads the active and upcoming employees (pages of
100 with their embedded documents), and what the scope's fields need (the department list, the
employment templates, the custom fields 100 employees a request), all from the shared Lucca
budget, as the reconciliation does.
"""

from __future__ import annotations

from connector.cli.checks import Check
from connector.cli.common import Context
from connector.domain.scope_facts import ScopeJudge
from connector.flows.reconcile_report import employees
from connector.runtime.clients import lucca_client
from connector.runtime.settings import Settings

NAME = "sync scope"
KEEPS_NOBODY_FIX = (
    "check SYNC_SCOPE's values against Lucca (legal entity, establishment and department ids; "
    "contract type ids, titles or terms; custom field values) and the fields' names "
    "(docs/scoping.md); while it keeps nobody, nobody is synced"
)


def scope_check(ctx: Context, settings: Settings) -> Check:
    """`SYNC_SCOPE keeps N of M employees` (or everyone, with no request)."""
    scope = settings.sync_scope
    if scope is None:
        return Check(
            NAME, "PASS", "SYNC_SCOPE is empty: it keeps everyone the Lucca API client sees."
        )
    lucca = lucca_client(settings, ctx.storage())
    with lucca:
        judge = ScopeJudge(scope, lucca)
        found = list(lucca.employees(statuses=("active", "upcoming")))
        with judge.reading_ahead([e.id for e in found]):
            kept = sum(1 for employee in found if judge.keeps(employee))
    detail = (
        f"SYNC_SCOPE keeps {kept} of {employees(len(found))} (active and upcoming); the "
        "others are neither created, matched nor changed."
    )
    if kept == 0 and found:
        return Check(NAME, "WARN", detail, KEEPS_NOBODY_FIX)
    return Check(NAME, "PASS", detail)
