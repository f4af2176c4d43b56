"""Builds SYNC_SCOPE's collaborators from the settings: the judge, the sync's gate, the
timer's planner (connector/flows/scope_gate.py)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

from connector.domain.access import AccessPlanner
from connector.domain.scope_facts import ScopeJudge
from connector.flows.scope_gate import ScopedPlanner, ScopeGate
from connector.runtime.settings import Settings
from connector.storage.links import Links
from connector.storage.log import IntegrationLog
from connector.storage.schedule import ScheduleStore
from connector.storage.tables import Storage

if TYPE_CHECKING:
    from connector.entra.directory import GraphDirectory
    from connector.lucca.scope_reads import LuccaScopeClient

Clock = Callable[[], datetime]


def scope_judge(settings: Settings, lucca: LuccaScopeClient) -> ScopeJudge | None:
    """SYNC_SCOPE's judge; None without a scope (everyone)."""
    scope = settings.sync_scope
    return ScopeJudge(scope, lucca) if scope is not None else None


def scoped_planner(
    settings: Settings,
    storage: Storage,
    lucca: LuccaScopeClient,
    planner: AccessPlanner,
    clock: Clock,
) -> ScopedPlanner | None:
    """The planner with the scope-exit disable (SCOPE_EXIT_ACTION=disable with a scope)."""
    judge = scope_judge(settings, lucca)
    if judge is None or settings.SCOPE_EXIT_ACTION != "disable":
        return None
    return ScopedPlanner(planner, judge, ScheduleStore(storage, clock=clock))


def scope_gate(
    settings: Settings,
    storage: Storage,
    *,
    lucca: LuccaScopeClient,
    directory: GraphDirectory,
    planner: AccessPlanner,
    clock: Clock,
) -> ScopeGate | None:
    """The sync's gate; None without a scope."""
    judge = scope_judge(settings, lucca)
    if judge is None:
        return None
    exiting = scoped_planner(settings, storage, lucca, planner, clock)
    return ScopeGate(
        judge=judge,
        links=Links(storage),
        directory=directory,
        log=IntegrationLog(storage),
        planner=exiting,
        schedule=ScheduleStore(storage, clock=clock) if exiting is not None else None,
        exit_action=settings.SCOPE_EXIT_ACTION,
        observe=settings.CONNECTOR_MODE == "observe",
        clock=clock,
    )
