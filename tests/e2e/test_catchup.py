"""The catch-up end to end: Lucca's event list → the intake's path → real queue → sync → Graph,
and the endpoint's status watched (issue 7)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from azure.functions.timer import TimerRequest

from connector.domain.entries import Action
from connector.flows.catchup import (
    DAILY_ROW,
    FULL_PASS_WHILE_SUSPENDED,
    OVERLAP,
    RETRY_FULL_PASS_AFTER,
    CatchUp,
    CatchUpReport,
)
from connector.lucca.client import WEBHOOK_WRITE_SCOPE
from connector.lucca.models import WEBHOOK_TOPICS
from connector.runtime.build import run_catch_up
from connector.runtime.clients import lucca_client
from connector.storage.changes import ChangeFeed
from connector.storage.log import ALERT_PREFIX, IntegrationLog
from tests.conftest import user_function
from tests.e2e.conftest import DOMAIN, World

pytestmark = pytest.mark.azurite
ENDPOINT_ID = "301"  # the sandbox's first webhook endpoint


def later() -> datetime:
    """Past the catch-up's settling time for every event recorded so far."""
    return datetime.now(UTC) + timedelta(minutes=5)


def catch_up(world: World, moment: datetime | None = None) -> None:
    """The `catch_up` timer fires (at `moment`, default `later()`)."""
    world.set_clock(moment or later())
    user_function(world.app, "catch_up")(TimerRequest())


def run(world: World, moment: datetime | None = None) -> CatchUpReport:
    """One catch-up run, its report."""
    when = moment or later()
    return run_catch_up(world.app.settings, world.storage, lambda: when)


def full_pass_due(world: World, *, cursor: bool = False) -> None:
    """Forget the last daily full pass (and the cursor too), as if a day had gone by."""
    world.storage.delete("CatchUp", "catch-up", DAILY_ROW)
    if cursor:
        world.storage.delete("CatchUp", "catch-up", "cursor")


def hire(world: World) -> str:
    """A hire delivered through the webhook and synced: the Lucca id."""
    employee_id = world.lucca.add_employee("Ada", "Lovelace", f"ada@{DOMAIN}", job_title="Dev")
    world.deliver_all()
    world.sync()
    return employee_id


def register(world: World) -> str:
    """The connector's endpoint, registered through the client."""
    scopes = (WEBHOOK_WRITE_SCOPE,)
    with lucca_client(world.app.settings, world.storage, scopes) as lucca:
        endpoint, _ = lucca.create_webhook_endpoint(
            name="Entra connector",
            webhook_url="https://func.example.net/api/lucca/webhook?code=k3y",
            topics=WEBHOOK_TOPICS,
        )
    return endpoint.id


def test_a_lost_delivery_is_applied_once_and_delivered_events_are_not_requeued(
    world: World,
) -> None:
    """A job title changed in Lucca, its delivery lost: the timer queues it once, the sync
    writes it to Entra; the hire's delivered events are not queued again; a second run queues
    nothing."""
    employee_id = hire(world)
    assert world.account_of(employee_id)["jobTitle"] == "Dev"
    position = world.lucca.job_position_of(employee_id)
    assert position is not None
    world.lucca.update_job_position(position, job_title="CTO")

    catch_up(world)
    assert world.sync() == 1  # only the lost event's sync: the hire's 3 events were journaled
    assert world.account_of(employee_id)["jobTitle"] == "CTO"

    catch_up(world)  # within the day: the undelivered events only, and there are none
    assert world.sync() == 0
    report = run(world)
    assert (report.full_pass, report.read, report.queued) == (False, 0, 0)
    full_pass_due(world)
    report = run(world)
    assert (report.full_pass, report.queued, report.seen, report.read) == (True, 0, 4, 4)


def test_an_event_already_delivered_is_not_queued_by_the_catch_up(world: World) -> None:
    """Delivered (and not yet synced) events: the catch-up leaves them to the webhook's queue."""
    employee_id = world.lucca.add_employee("Grace", "Hopper", f"grace@{DOMAIN}")
    world.deliver_all()
    report = run(world)
    assert (report.queued, report.coalesced, report.seen) == (0, 0, 3)
    assert world.sync() == 1  # the webhook's one message
    assert world.account_of(employee_id)["givenName"] == "Grace"


def test_the_first_run_starts_a_day_back_and_later_runs_from_the_cursor(world: World) -> None:
    """No cursor: events older than 24 hours are not replayed; the cursor then names the last
    event journaled, and events younger than the settling time wait for the next run."""
    world.lucca.add_employee("Alan", "Turing", f"alan@{DOMAIN}")
    events = world.lucca.recorded_events()
    report = run(world, datetime.now(UTC) + timedelta(days=2))
    assert (report.read, report.queued) == (0, 0)  # all older than the first run's window

    full_pass_due(world, cursor=True)
    report = run(world, datetime.now(UTC))  # everything is younger than the settling time
    assert (report.read, report.queued) == (3, 0)
    full_pass_due(world)
    report = run(world)
    assert report.queued == 1 and report.coalesced == 2
    cursor = CatchUp(lucca=None, storage=world.storage, intake=None, clock=later).cursor()  # type: ignore[arg-type]
    assert cursor is not None and cursor.event_id == events[-1]["id"]


def test_a_run_that_dies_part_way_resumes_after_the_last_journaled_event(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The journal write of the 2nd lost event fails: the cursor stays on the 1st, whose
    replay is then not queued again; the 2nd is queued by the next run."""
    first = world.lucca.add_employee("Ada", "Lovelace", f"ada@{DOMAIN}")
    second = world.lucca.add_employee("Alan", "Turing", f"alan@{DOMAIN}")
    events = [e for e in world.lucca.recorded_events() if e["topic"] == "employee.created"]
    for event in world.lucca.recorded_events():
        if event["topic"] != "employee.created":
            assert world.deliver(event).status_code == 202  # only the two creations are lost
    world.sync()
    real_record = ChangeFeed.record
    calls: list[Any] = []

    def failing(self: ChangeFeed, entry: Any, received_at: datetime) -> None:
        calls.append(entry)
        if len(calls) == 2:
            raise RuntimeError("storage went away")
        real_record(self, entry, received_at)

    monkeypatch.setattr(ChangeFeed, "record", failing)
    with pytest.raises(RuntimeError):
        run(world)
    monkeypatch.setattr(ChangeFeed, "record", real_record)
    cursor = CatchUp(lucca=None, storage=world.storage, intake=None, clock=later).cursor()  # type: ignore[arg-type]
    ids = [e["id"] for e in world.lucca.recorded_events()]
    before_failure = ids[ids.index(events[1]["id"]) - 1]  # journaled (or seen) last
    assert cursor is not None and cursor.event_id == before_failure

    assert not run(world).full_pass  # a stopped pass is tried again an hour later, not at once
    report = run(world, later() + RETRY_FULL_PASS_AFTER)
    assert report.seen == 5 and report.queued + report.coalesced == 1
    world.sync()
    assert world.account_of(first)["givenName"] == "Ada"
    assert world.account_of(second)["givenName"] == "Alan"
    assert run(world).queued == 0


def test_a_throttled_run_stops_and_keeps_its_cursor(world: World) -> None:
    """A 429 on the event list: nothing queued, the cursor unchanged, the next run applies."""
    world.lucca.add_employee("Ada", "Lovelace", f"ada@{DOMAIN}")
    run(world, datetime.now(UTC) + timedelta(days=2))  # a cursor past every event…
    full_pass_due(world, cursor=True)
    world.lucca.throttle(times=1, retry_after=1, path=r"^/lucca-api/events")
    report = run(world)
    assert report.throttled and report.queued == 0
    cursor = CatchUp(lucca=None, storage=world.storage, intake=None, clock=later).cursor()  # type: ignore[arg-type]
    assert cursor is not None and cursor.event_id == ""  # where the first run started
    assert not run(world).full_pass  # meanwhile the undelivered events only
    assert run(world, later() + RETRY_FULL_PASS_AFTER).queued == 1


def test_a_suspended_endpoint_alerts_once_then_its_reactivation_is_logged(
    make_world: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """Suspended over three runs: one "endpoint suspended" entry and one alert line; active
    again: one "endpoint active again" entry."""
    world: World = make_world(LUCCA_WEBHOOK_ENDPOINT_ID=ENDPOINT_ID)
    assert register(world) == ENDPOINT_ID
    log = IntegrationLog(world.storage)
    since = datetime.now(UTC) - timedelta(hours=1)
    caplog.set_level(logging.WARNING)

    catch_up(world)
    assert log.search(since=since, action=Action.ENDPOINT_SUSPENDED) == []

    world.lucca.set_endpoint_status(ENDPOINT_ID, "suspended")
    for _ in range(3):
        catch_up(world)
    suspended = log.search(since=since, action=Action.ENDPOINT_SUSPENDED)
    assert len(suspended) == 1
    assert "suspended" in suspended[0].message and "code=***" in suspended[0].message
    assert "k3y" not in suspended[0].message
    alerts = [r for r in caplog.records if r.getMessage().startswith(ALERT_PREFIX)]
    assert [a.getMessage().split(" (")[0] for a in alerts] == [f"{ALERT_PREFIX} endpoint suspended"]

    world.lucca.set_endpoint_status(ENDPOINT_ID, "active")
    catch_up(world)
    catch_up(world)
    active = log.search(since=since, action=Action.ENDPOINT_ACTIVE)
    assert len(active) == 1 and "was suspended" in active[0].message
    assert len(log.search(since=since, action=Action.ENDPOINT_SUSPENDED)) == 1


def test_an_endpoint_lucca_no_longer_has_alerts(make_world: Any) -> None:
    """LUCCA_WEBHOOK_ENDPOINT_ID names no endpoint (deleted): one alerting entry."""
    world: World = make_world(LUCCA_WEBHOOK_ENDPOINT_ID="999")
    report = run(world)
    assert report.endpoint_status == "missing" and report.logged == [Action.ENDPOINT_SUSPENDED]
    assert run(world).logged == []


def test_the_overlap_is_shorter_than_the_first_window() -> None:
    """Each run re-reads OVERLAP back: it must stay well within the period's reach."""
    assert timedelta(minutes=15) < OVERLAP < timedelta(hours=24)


def test_between_daily_passes_only_undelivered_events_are_read(world: World) -> None:
    """After the day's full pass, a run reads Lucca's failed and scheduled deliveries only
    (two short lists, not two months of events): a delivery Lucca reports failed is applied
    whatever its age, a delivered one is not even read."""
    employee_id = hire(world)
    assert run(world).full_pass  # the day's full pass: nothing lost yet
    position = world.lucca.job_position_of(employee_id)
    assert position is not None
    world.lucca.update_job_position(position, job_title="CTO")
    [lost] = world.lucca.recorded_events("job-position.updated")
    world.lucca.set_event_status(lost["id"], "failed")
    before = len(world.lucca.requests)
    report = run(world)
    event_lists = [r for r in world.lucca.requests[before:] if r.path == "/lucca-api/events"]
    assert sorted(r.param("status") for r in event_lists) == ["failed", "scheduled"]
    assert (report.full_pass, report.read, report.queued) == (False, 1, 1)
    world.sync()
    assert world.account_of(employee_id)["jobTitle"] == "CTO"
    assert run(world).queued == 0  # still listed as failed by Lucca: the journal knows it


def test_a_catch_up_that_cannot_read_lucca_alerts_once(
    make_world: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """The API client lacks events.readonly: one "catch-up failed" entry and one alert line
    over three runs, naming the scope; once the scope is granted the memory is cleared, and a
    later failure alerts again."""
    world: World = make_world()
    world.lucca.scopes = world.lucca.scopes - {"events.readonly"}
    log = IntegrationLog(world.storage)
    since = datetime.now(UTC) - timedelta(hours=1)
    caplog.set_level(logging.WARNING)
    for _ in range(3):
        assert run(world).error is not None
    [failed] = log.search(since=since, action=Action.CATCHUP_FAILED)
    assert "events.readonly" in failed.message
    alerts = [r.getMessage() for r in caplog.records if r.getMessage().startswith(ALERT_PREFIX)]
    assert [a.split(" (")[0] for a in alerts] == [f"{ALERT_PREFIX} catch-up failed"]

    world.lucca.scopes = world.lucca.scopes | {"events.readonly"}
    assert run(world).error is None
    world.lucca.scopes = world.lucca.scopes - {"events.readonly"}
    run(world)
    assert len(log.search(since=since, action=Action.CATCHUP_FAILED)) == 2


def test_while_the_endpoint_is_suspended_the_full_pass_runs_hourly(make_world: Any) -> None:
    """Lucca may not list what it holds back from a suspended endpoint as undelivered: the full
    pass then comes every hour, not once a day."""
    world: World = make_world(LUCCA_WEBHOOK_ENDPOINT_ID=ENDPOINT_ID)
    assert register(world) == ENDPOINT_ID
    start = later()
    assert run(world, start).full_pass
    assert not run(world, start + FULL_PASS_WHILE_SUSPENDED).full_pass  # active: daily
    world.lucca.set_endpoint_status(ENDPOINT_ID, "suspended")
    run(world, start + FULL_PASS_WHILE_SUSPENDED)  # sees the suspension
    assert run(world, start + 2 * FULL_PASS_WHILE_SUSPENDED).full_pass


def test_an_event_without_a_utc_day_is_skipped_with_a_warning(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    """A lost event whose occurredAt (year 9999 at -05:00) has no UTC day is skipped and said;
    the run goes on and replays the other lost event."""
    employee_id = hire(world)
    position = world.lucca.job_position_of(employee_id)
    assert position is not None
    world.lucca.update_job_position(position, job_title="CTO")
    extreme = dict(world.lucca.recorded_events()[-1])
    extreme.update(id="990001", occurredAt="9999-12-31T23:00-05:00")
    world.lucca.keep_event(extreme)

    with caplog.at_level(logging.WARNING, logger="connector.flows.catchup"):
        report = run(world)

    assert (report.skipped, report.queued, report.error) == (1, 1, None)
    assert any(
        "990001 skipped" in r.getMessage() and "cannot be placed in a UTC day" in r.getMessage()
        for r in caplog.records
        if r.levelno == logging.WARNING
    )
    assert world.sync() == 1
    assert world.account_of(employee_id)["jobTitle"] == "CTO"
