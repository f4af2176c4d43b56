"""The sync engine at its ports: in-memory stores and small fakes of Lucca and Entra, no Azurite
and no sandbox, so each rule of the sync is a fast unit test."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from connector.core.errors import Transient
from connector.domain.access import AccessPlanner
from connector.domain.entries import Action
from connector.domain.mapping import DEFAULT_ATTRIBUTES, anchor, owned
from connector.entra.scope import parse_scope
from connector.flows.sync import SyncService
from tests.unit.fakes import FakeDirectory, FakeLucca
from tests.unit.memory import (
    MemoryFeed,
    MemoryLinks,
    MemoryLog,
    MemorySchedule,
)

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


class World:
    """Lucca, Entra and the stores the sync is given, at a fixed instant."""

    def __init__(self) -> None:
        self.now = NOW
        self.lucca = FakeLucca()
        self.directory = FakeDirectory()
        self.links = MemoryLinks()
        self.log = MemoryLog()
        self.feed = MemoryFeed()
        self.schedule = MemorySchedule(clock=self.clock)

    def clock(self) -> datetime:
        """The test's now."""
        return self.now

    def service(self, **options: Any) -> SyncService:
        """The sync on these ports, owning the default attributes and the manager (unless
        `attributes=` says otherwise)."""
        return SyncService(
            lucca=self.lucca,
            directory=self.directory,
            feed=self.feed,
            links=self.links,
            log=self.log,
            planner=AccessPlanner(
                self.lucca,
                time_zone="Europe/Paris",
                contract_gap_days=0,
                enable_days_before_start=0,
            ),
            schedule=self.schedule,
            clock=self.clock,
            **{"attributes": owned((*DEFAULT_ATTRIBUTES, "manager")), **options},
        )


@pytest.fixture
def world() -> World:
    """An empty tenant, an empty Lucca, empty stores."""
    return World()


def test_a_new_hire_is_created_and_linked(world: World) -> None:
    """An employee with no account gets one, anchored and linked, and one "created" entry."""
    employee = world.lucca.hire("Ada", "Martin", start=date(2026, 1, 5))

    entry = world.service().sync(employee.id, ("event-1",))

    assert entry.action is Action.CREATED
    [user] = world.directory.users.values()
    assert (user.user_principal_name, user.employee_id) == ("ada.martin@acme.fr", anchor("1"))
    assert (user.graph_value("jobTitle"), user.account_enabled) == ("Engineer", True)
    link = world.links.of_employee(employee.id)
    assert link is not None and (link.object_id, link.how) == (user.id, "created")
    assert world.log.entries == [entry]
    assert entry.event_keys == ("event-1",)


def test_a_changed_job_title_is_a_one_attribute_patch(world: World) -> None:
    """Once in step, a new job title in Lucca is one PATCH of jobTitle alone."""
    employee = world.lucca.hire("Ada", "Martin", start=date(2026, 1, 5))
    service = world.service()
    service.sync(employee.id)
    [user] = world.directory.users.values()
    world.directory.writes.clear()

    world.lucca.change_job(employee.id, job_title="Lead Engineer")
    entry = service.sync(employee.id)

    assert entry.action is Action.UPDATED
    assert world.directory.writes == [("update", user.id, {"jobTitle": "Lead Engineer"})]
    assert [(c.attribute, c.old, c.new) for c in entry.changes] == [
        ("jobTitle", "Engineer", "Lead Engineer")
    ]


def test_in_step_writes_nothing(world: World) -> None:
    """A second sync with nothing changed in Lucca writes nothing and says so."""
    employee = world.lucca.hire("Ada", "Martin", start=date(2026, 1, 5))
    service = world.service()
    service.sync(employee.id)
    world.directory.writes.clear()

    entry = service.sync(employee.id)

    assert entry.action is Action.UNCHANGED
    assert world.directory.writes == []


def test_an_on_premises_account_is_a_conflict(world: World) -> None:
    """An account with the employee's email, synchronised from on-premises, is neither linked
    nor written: a conflict naming why."""
    employee = world.lucca.hire("Ada", "Martin", start=date(2026, 1, 5))
    user = world.directory.add(
        user_principal_name="ada.martin@acme.fr",
        mail="ada.martin@acme.fr",
        account_enabled=True,
        on_premises_sync_enabled=True,
    )

    entry = world.service().sync(employee.id)

    assert entry.action is Action.CONFLICT
    assert "synchronised from on-premises Active Directory" in entry.message
    assert entry.details["candidates"][0]["id"] == user.id
    assert world.directory.writes == []
    assert world.links.of_employee(employee.id) is None


def test_observe_mode_writes_nothing(world: World) -> None:
    """In observe mode the sync plans the account and logs it, and writes nothing anywhere."""
    employee = world.lucca.hire("Ada", "Martin", start=date(2026, 1, 5), end=date(2026, 6, 30))

    entry = world.service(observe=True).sync(employee.id)

    assert entry.action is Action.CREATED
    assert entry.observed
    assert entry.message.startswith("Observe mode, nothing written: ")
    assert world.directory.writes == []
    assert world.links.all() == []
    assert world.schedule.upcoming(employee.id) == []
    assert world.feed.queued == []


def test_a_future_hire_is_created_closed_and_its_opening_scheduled(world: World) -> None:
    """An employee starting later gets a disabled account and an enable at 00:00 Paris on the
    first day, logged as a schedule change."""
    employee = world.lucca.hire("Noe", "Vidal", start=date(2026, 3, 16))

    entry = world.service().sync(employee.id)

    assert entry.action is Action.CREATED
    [user] = world.directory.users.values()
    assert user.account_enabled is False
    link = world.links.of_employee(employee.id)
    assert link is not None and link.disabled_by_connector
    [enable] = world.schedule.upcoming(employee.id)
    assert (enable.kind, enable.at) == ("enable", datetime(2026, 3, 15, 23, 0, tzinfo=UTC))
    assert [e.action for e in world.log.entries] == [Action.SCHEDULED, Action.CREATED]


def test_a_report_waits_for_its_manager_then_is_queued(world: World) -> None:
    """A report synced before its manager has no manager yet; once the manager's account is
    linked, the report is queued for a sync of its own, which sets the manager."""
    manager = world.lucca.hire("Lou", "Garnier", start=date(2025, 1, 6))
    report = world.lucca.hire("Ada", "Martin", start=date(2026, 1, 5), manager_id=manager.id)
    service = world.service()

    first = service.sync(report.id)
    assert first.details["pending_manager"] == manager.id
    assert world.links.pending_reports(manager.id) == [report.id]

    world.now += timedelta(minutes=1)
    service.sync(manager.id)
    [(message, delay)] = world.feed.queued
    assert (message.employee_id, message.topic, delay) == (report.id, "manager-linked", 0)

    entry = service.sync(report.id, (message.reference,))
    manager_link = world.links.of_employee(manager.id)
    report_link = world.links.of_employee(report.id)
    assert manager_link is not None and report_link is not None
    assert world.directory.managers[report_link.object_id] == manager_link.object_id
    assert entry.action is Action.UPDATED
    assert world.links.pending_reports(manager.id) == []


@pytest.mark.parametrize("how", ["mail", "userPrincipalName"])
def test_a_link_by_mail_or_login_alerts_unless_reviewed(world: World, how: str) -> None:
    """An existing account found by the employee's email is linked with an alerting entry for
    an operator, naming it, how and the unlink command; reviewed (`reconcile --apply`), not."""
    ada = world.lucca.hire("Ada", "Martin", start=date(2026, 1, 5))
    bob = world.lucca.hire("Bob", "Roy", start=date(2026, 1, 5))
    for employee in (ada, bob):
        mail = {"mail": employee.email} if how == "mail" else {}
        world.directory.add(user_principal_name=employee.email, account_enabled=True, **mail)

    alerting = world.service().sync(ada.id)
    reviewed = world.service().sync(bob.id, reviewed=True)

    assert (alerting.action, reviewed.action) == (Action.LINKED, Action.LINKED)
    assert alerting.alert and not reviewed.alert
    assert f"(matched by {how})" in alerting.message
    assert f"ada.martin@acme.fr ({alerting.object_id})" in alerting.message
    assert f"`python -m connector unlink {ada.id}`" in alerting.message
    assert "unlink" not in reviewed.message
    assert world.log.for_attention() == [alerting]


def test_a_link_by_anchor_does_not_alert(world: World) -> None:
    """An account carrying the employee's anchor is linked without an alert."""
    employee = world.lucca.hire("Ada", "Martin", start=date(2026, 1, 5))
    world.directory.add(
        user_principal_name="amartin@acme.fr", account_enabled=True, employee_id=anchor("1")
    )

    entry = world.service().sync(employee.id)

    assert entry.action is Action.LINKED and "(matched by employeeId)" in entry.message
    assert not entry.alert
    assert world.log.for_attention() == []


def test_a_sync_stopping_after_a_link_by_mail_still_alerts(world: World) -> None:
    """The link is written, then Graph fails for now: the entry saying so alerts, as the retry
    finds the account by its link and would not."""
    employee = world.lucca.hire("Ada", "Martin", start=date(2026, 1, 5))
    world.directory.add(user_principal_name="ada.martin@acme.fr", account_enabled=True)

    def unavailable(object_id: str, properties: Any) -> None:
        raise Transient("Graph is unavailable", service="graph")

    world.directory.update_user = unavailable  # type: ignore[method-assign]
    with pytest.raises(Transient):
        world.service().sync(employee.id)

    [entry] = world.log.entries
    assert entry.action is Action.LINKED and entry.alert
    assert "Then the sync stopped" in entry.message
    assert world.links.of_employee(employee.id) is not None


def test_observe_mode_plans_no_change_to_a_linked_administrator(world: World) -> None:
    """In observe mode too, a linked account that holds a directory role gets no planned
    change: the plan is an alerting conflict, and nothing is written."""
    employee = world.lucca.hire("Ada", "Martin", start=date(2026, 1, 5))
    world.service().sync(employee.id)
    [user] = world.directory.users.values()
    world.directory.directory_role_names[user.id] = ["Global Administrator"]
    world.lucca.change_job(employee.id, job_title="CTO")
    writes = len(world.directory.writes)

    entry = world.service(observe=True).sync(employee.id)

    assert entry.action is Action.CONFLICT and entry.observed
    assert "holds the directory role Global Administrator" in entry.message
    assert entry.changes == ()
    assert entry.details["alert"] == "directory role"
    assert len(world.directory.writes) == writes


def test_a_candidate_outside_match_scope_is_not_linked(world: World) -> None:
    """MATCH_SCOPE set: a candidate found by mail outside it is a conflict; inside, linked."""
    scope = parse_scope("group:4f1c2d3e-0000-4000-8000-00000000a11e")
    address = "ada.martin@acme.fr"
    outside = world.directory.add(user_principal_name=address, mail=address)
    employee = world.lucca.hire("Ada", "Martin", start=date(2026, 1, 5))

    entry = world.service(match_scope=scope).sync(employee.id)

    assert entry.action is Action.CONFLICT
    assert "outside MATCH_SCOPE (group 4f1c2d3e-0000-4000-8000-00000000a11e)" in entry.message
    assert world.links.of_employee(employee.id) is None

    world.directory.scope_members.add(outside.id)
    assert world.service(match_scope=scope).sync(employee.id).action is Action.LINKED
