"""The nightly reconciliation end to end: the `reconcile_nightly` timer of the Functions app,
the real Lucca client and Graph SDK against the sandboxes, Azurite (issue 7)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from azure.functions.timer import TimerRequest

from connector.core.errors import Transient
from connector.domain.entries import Action, LogEntry
from connector.flows.nightly import MAX_ATTEMPTS, NightlyReconciliation
from connector.flows.reconcile import Reconciliation
from connector.storage.links import Links
from connector.storage.log import ALERT_PREFIX, IntegrationLog
from tests.conftest import user_function
from tests.e2e.conftest import DOMAIN, World

pytestmark = pytest.mark.azurite
# 02:00 in Paris is 01:00 UTC in winter (CET) and 00:00 UTC in summer (CEST).
WINTER_NIGHT = datetime(2027, 1, 12, 1, 0, tzinfo=UTC)


def nightly(world: World, moment: datetime) -> None:
    """The `reconcile_nightly` timer fires at `moment`."""
    world.set_clock(moment)
    user_function(world.app, "reconcile_nightly")(TimerRequest())


def summaries(world: World, since: datetime) -> list[LogEntry]:
    """The nightly run's own entries (no employee id), newest first."""
    log = IntegrationLog(world.storage, clock=lambda: since + timedelta(days=3))
    found = log.search(since=since, limit=1000)
    return [
        e
        for e in found
        if e.action in (Action.RECONCILED, Action.RECONCILIATION_HELD, Action.FAILED)
        and e.employee_id is None
    ]


def hire(world: World, given: str, family: str, **job: str) -> str:
    """A hire delivered through the webhook and synced: the Lucca id."""
    employee_id = world.lucca.add_employee(
        given, family, f"{given.lower()}.{family.lower()}@{DOMAIN}", **job
    )
    world.deliver_all()
    world.sync()
    return employee_id


def test_the_nightly_run_repairs_an_attribute_changed_by_hand(world: World) -> None:
    """Someone changes a job title in Entra; at 02:00 Paris the nightly run writes Lucca's back,
    logs the employee's update and one summary entry; later ticks that day do nothing."""
    ada = hire(world, "Ada", "Lovelace", job_title="Engineer")
    bob = hire(world, "Bob", "Martin", job_title="Designer")
    account = world.account_of(ada)
    world.graph.edit_user(account["id"], jobTitle="Chief Everything")
    since = WINTER_NIGHT.replace(hour=0)

    nightly(world, WINTER_NIGHT)

    assert world.account_of(ada)["jobTitle"] == "Engineer"
    assert world.account_of(bob)["jobTitle"] == "Designer"
    [summary] = summaries(world, since)
    assert summary.action is Action.RECONCILED
    assert summary.details["to_apply"] == 1
    assert summary.details["applied"] == {"updated": 1}
    assert "2 employees reconciled: 1 in step, 1 to update" in summary.message
    [update] = [e for e in world.entries(ada) if e.time >= since]
    assert update.action is Action.UPDATED
    assert [(c.attribute, c.old, c.new) for c in update.changes] == [
        ("jobTitle", "Chief Everything", "Engineer")
    ]

    world.graph.edit_user(account["id"], jobTitle="Changed again")
    world.graph.reset_log()
    world.lucca.reset_log()
    for hour in (2, 3, 22):
        nightly(world, WINTER_NIGHT.replace(hour=hour))

    assert world.account_of(ada)["jobTitle"] == "Changed again"  # tomorrow night, not today
    assert world.graph.requests == []
    assert world.lucca.requests == []
    assert len(summaries(world, since)) == 1


def test_before_its_time_it_reads_nothing(world: World) -> None:
    """At 01:59 Paris the tick returns at once: no request to Lucca or Graph, no entry."""
    hire(world, "Ada", "Lovelace")
    world.graph.reset_log()
    world.lucca.reset_log()

    nightly(world, WINTER_NIGHT.replace(hour=0, minute=59))

    assert (world.graph.requests, world.lucca.requests) == ([], [])
    assert summaries(world, WINTER_NIGHT.replace(hour=0)) == []


def test_over_the_threshold_it_is_held_and_alerts(
    make_world: object, caplog: pytest.LogCaptureFixture
) -> None:
    """Three accounts changed by hand, RECONCILE_MAX_CHANGES=2: nothing is written, one
    alerting "reconciliation held" entry says how to review and release it."""
    world: World = make_world(RECONCILE_MAX_CHANGES="2")  # type: ignore[operator]
    people = [hire(world, name, "Test", job_title="Dev") for name in ("Ada", "Bob", "Cy")]
    for employee_id in people:
        world.graph.edit_user(world.account_of(employee_id)["id"], jobTitle="By hand")
    world.graph.reset_log()

    with caplog.at_level(logging.WARNING):
        nightly(world, WINTER_NIGHT)

    assert world.graph_writes() == 0
    assert {world.account_of(e)["jobTitle"] for e in people} == {"By hand"}
    [held] = summaries(world, WINTER_NIGHT.replace(hour=0))
    assert held.action is Action.RECONCILIATION_HELD
    assert held.details["to_apply"] == 3
    assert sorted(held.details["to_apply_sample"]) == sorted(people)
    assert "more than RECONCILE_MAX_CHANGES (2)" in held.message
    assert "python -m connector reconcile --apply" in held.message
    assert f"{ALERT_PREFIX} reconciliation held" in caplog.text
    assert held in IntegrationLog(world.storage).for_attention()


@pytest.mark.parametrize(
    ("day", "ticks", "runs_at"),
    [
        # Clocks go forward at 02:00 (→ 03:00): 02:00 never happens; the 01:00 UTC tick is
        # 03:00 local, the first at or after 02:00.
        ("2027-03-28", (0, 1, 2), 1),
        # Clocks go back at 03:00 (→ 02:00): 02:00 happens twice (00:00 and 01:00 UTC); one run.
        ("2027-10-31", (0, 1, 2), 0),
    ],
    ids=["spring-forward", "fall-back"],
)
def test_once_a_local_day_across_daylight_saving_changes(
    world: World, day: str, ticks: tuple[int, ...], runs_at: int
) -> None:
    """Hourly ticks around 02:00 Paris on both change days: exactly one run, at the first tick
    whose local time is 02:00 or later."""
    ada = hire(world, "Ada", "Lovelace", job_title="Engineer")
    start = datetime.fromisoformat(f"{day}T00:00:00+00:00")
    eve = start - timedelta(days=1)
    nightly(world, eve.replace(hour=3))  # the day before's run
    account = world.account_of(ada)
    world.graph.edit_user(account["id"], jobTitle="By hand")
    ran_at = []
    for hour in (22, 23):  # the evening before: that day's run is done
        nightly(world, eve.replace(hour=hour))
    assert world.account_of(ada)["jobTitle"] == "By hand"
    for hour in ticks:
        before = len(summaries(world, eve))
        nightly(world, start.replace(hour=hour))
        if len(summaries(world, eve)) > before:
            ran_at.append(hour)

    assert ran_at == [runs_at]
    assert world.account_of(ada)["jobTitle"] == "Engineer"


def test_a_run_that_cannot_read_lucca_is_retried_and_said_once(world: World) -> None:
    """Lucca answers 503: one "failed" entry, the tick raises (the Functions log shows it), the
    next tick runs it; after MAX_ATTEMPTS failures the day is given up and said once more."""
    ada = hire(world, "Ada", "Lovelace", job_title="Engineer")
    world.graph.edit_user(world.account_of(ada)["id"], jobTitle="By hand")
    since = WINTER_NIGHT.replace(hour=0)
    world.lucca.inject(503, method="GET", path=r"^/lucca-api/employees$", times=100)

    with pytest.raises(Transient):
        nightly(world, WINTER_NIGHT)

    [failed] = summaries(world, since)
    assert failed.action is Action.FAILED
    assert "stopped (" in failed.message
    assert "tried again at the next tick" in failed.message

    world.lucca.clear_faults()
    nightly(world, WINTER_NIGHT.replace(hour=2))

    assert world.account_of(ada)["jobTitle"] == "Engineer"
    assert [e.action for e in summaries(world, since)] == [Action.RECONCILED, Action.FAILED]


def test_given_up_after_the_last_attempt(world: World) -> None:
    """Every attempt fails: entries at the first and the last, none after, no more reads."""
    hire(world, "Ada", "Lovelace")
    since = WINTER_NIGHT.replace(hour=0)
    world.lucca.inject(503, method="GET", path=r"^/lucca-api/employees$", times=1000)
    for hour in range(1, 1 + MAX_ATTEMPTS):
        with pytest.raises(Transient):
            nightly(world, WINTER_NIGHT.replace(hour=hour))
    world.lucca.reset_log()

    nightly(world, WINTER_NIGHT.replace(hour=1 + MAX_ATTEMPTS))

    assert world.lucca.requests == []
    messages = [e.message for e in summaries(world, since)]
    assert len(messages) == 2
    assert f"after {MAX_ATTEMPTS} attempts it waits for tomorrow" in messages[0]


def test_observe_mode_writes_only_the_summary(make_world: object) -> None:
    """CONNECTOR_MODE=observe: the summary says what it would do, Entra is not touched."""
    world: World = make_world()  # type: ignore[operator]
    ada = hire(world, "Ada", "Lovelace", job_title="Engineer")
    world.app.settings = world.app.settings.model_copy(update={"CONNECTOR_MODE": "observe"})
    world.graph.edit_user(world.account_of(ada)["id"], jobTitle="By hand")
    world.graph.reset_log()

    nightly(world, WINTER_NIGHT)

    assert world.graph_writes() == 0
    [summary] = summaries(world, WINTER_NIGHT.replace(hour=0))
    assert summary.observed
    assert summary.message.startswith("Observe mode, nothing written: ")
    assert "1 to update" in summary.message


def test_an_unexpected_error_gives_the_day_back_and_says_so(world: World) -> None:
    """Not a service failure (a bug, say): the day is given back and a "failed" entry names the
    error's type; the next tick runs it."""
    calls = []

    def broken() -> Reconciliation:
        calls.append(1)
        raise KeyError("boom")

    run = NightlyReconciliation(
        storage=world.storage,
        build=broken,
        log=IntegrationLog(world.storage),
        at="02:00",
        zone="Europe/Paris",
        max_changes=50,
        observe=False,
        clock=lambda: WINTER_NIGHT,
    )
    with pytest.raises(KeyError):
        run.run()

    [failed] = summaries(world, WINTER_NIGHT.replace(hour=0))
    assert "stopped (KeyError)" in failed.message
    with pytest.raises(KeyError):
        run.run()
    assert len(calls) == 2


def test_the_nightly_run_keeps_to_the_scope(make_world: Any) -> None:
    """SYNC_SCOPE of one establishment: the nightly run repairs the employee in scope, and
    neither creates, matches nor changes anyone outside it; its summary counts the scope."""
    world = make_world(SYNC_SCOPE="establishment = 11")
    paris = world.lucca.add_establishment("Paris")
    lyon = world.lucca.add_establishment("Lyon")
    assert paris == "11"
    ada = hire(world, "Ada", "Lovelace", job_title="Engineer")
    stranger = world.graph.add_user(
        userPrincipalName=f"bob.martin@{DOMAIN}", mail=f"bob.martin@{DOMAIN}", jobTitle="X"
    )
    bob = hire(world, "Bob", "Martin", job_title="Designer", establishment_id=lyon)
    hire(world, "Cy", "Noir", establishment_id=lyon)
    world.graph.edit_user(world.account_of(ada)["id"], jobTitle="Chief Everything")
    world.graph.reset_log()
    since = WINTER_NIGHT.replace(hour=0)

    nightly(world, WINTER_NIGHT)

    assert world.account_of(ada)["jobTitle"] == "Engineer"
    assert world.graph.user(stranger["id"]) == stranger
    assert Links(world.storage).of_employee(bob) is None
    assert world.graph.count("POST", r"^/v1\.0/users$") == 0
    [summary] = summaries(world, since)
    assert "1 employee reconciled (SYNC_SCOPE keeps 1 of 3 read): 1 to update" in summary.message
