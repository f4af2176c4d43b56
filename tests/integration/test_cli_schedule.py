"""`python -m connector schedule list|release` on Azurite: the schedule's rows written through
`ScheduleStore`, held runs made by the real timer (`LeaverRun`, Lucca and Graph sandboxes)."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from connector.cli.main import main
from connector.domain.contract_dates import Kind, PlannedAction, local_midnight_utc
from connector.domain.entries import Action
from connector.storage.log import IntegrationLog
from connector.storage.schedule import ScheduleStore
from connector.storage.tables import Storage
from tests.azurite import Azurite
from tests.conftest import base_settings
from tests.integration.test_leavers import DISABLE_AT, DOMAIN, World, _leavers
from tests.sandboxes.graph import GraphSandbox
from tests.sandboxes.lucca import LuccaSandbox

pytestmark = pytest.mark.azurite
PARIS = ZoneInfo("Europe/Paris")
NOW = datetime(2026, 10, 20, 9, 0, tzinfo=UTC)  # Paris is UTC+2 until 2026-10-25


def cli(azurite: Azurite, *argv: str, now: datetime = NOW, **settings: str) -> tuple[int, str, str]:
    """`python -m connector …` in-process at `now`: (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    environ = {**base_settings(azurite.connection_string), **settings}
    code = main(list(argv), environ=environ, out=out, err=err, clock=lambda: now)
    return code, out.getvalue(), err.getvalue()


def action(kind: Kind, local_day: date, employment_id: str = "77") -> PlannedAction:
    """An enable on `local_day` or a disable from `local_day` (00:00 Paris)."""
    contract_day = local_day - timedelta(days=1) if kind == "disable" else local_day
    return PlannedAction(
        kind=kind,
        at=local_midnight_utc(local_day, PARIS),
        local_day=local_day,
        contract_day=contract_day,
        zone="Europe/Paris",
        employment_id=employment_id,
    )


def schedule_at(storage: Storage, when: datetime, employee_id: str, planned: PlannedAction) -> None:
    """Schedule one action as a sync at `when` would."""
    ScheduleStore(storage, clock=lambda: when).replace(employee_id, [planned])


@pytest.fixture
def planned(storage: Storage) -> Storage:
    """Four actions: one past due, a planned enable, a sudden disable, one beyond 14 days."""
    month_ago = NOW - timedelta(days=30)
    schedule_at(storage, month_ago, "501", action("disable", date(2026, 10, 20)))  # 19th 22:00Z
    schedule_at(storage, month_ago, "502", action("enable", date(2026, 10, 23)))
    schedule_at(storage, NOW - timedelta(hours=1), "504", action("disable", date(2026, 10, 21)))
    schedule_at(storage, month_ago, "503", action("disable", date(2026, 11, 10)))
    return storage


# -- list --------------------------------------------------------------------------------------
def test_list_shows_the_overdue_and_the_coming_soonest_first(
    planned: Storage, azurite: Azurite
) -> None:
    """The past-due disable first (overdue), then the sudden disable and the enable; the
    disable 21 days ahead is outside the 14 days."""
    code, out, err = cli(azurite, "schedule", "list")

    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[0].startswith("3 actions from 2026-10-20 09:00:00Z to 2026-11-03 09:00:00Z")
    assert "1 of them overdue" in lines[0]
    assert lines[1].split() == ["due", "(UTC)", "local", "day", "kind", "employee", "note"]
    rows = [line.split() for line in lines[2:5]]
    assert [(r[0], r[1], r[3], r[4], r[5]) for r in rows] == [
        ("2026-10-19", "22:00:00Z", "Europe/Paris", "disable", "501"),
        ("2026-10-20", "22:00:00Z", "Europe/Paris", "disable", "504"),
        ("2026-10-22", "22:00:00Z", "Europe/Paris", "enable", "502"),
    ]
    assert [r[2] for r in rows] == ["2026-10-20", "2026-10-21", "2026-10-23"]
    assert [" ".join(r[6:]) for r in rows] == ["overdue", "sudden", "-"]
    assert "503" not in out
    assert "No run is held." in out


def test_list_json_and_a_longer_window(planned: Storage, azurite: Azurite) -> None:
    """--days 30 reaches the fourth; --json gives each action's fields."""
    code, out, _ = cli(azurite, "schedule", "list", "--days", "30", "--json")

    assert code == 0
    document = json.loads(out)
    assert document["now"] == "2026-10-20T09:00:00Z"
    assert document["until"] == "2026-11-19T09:00:00Z"
    assert document["held_run"] is None
    assert document["held_runs"] == []
    actions = document["actions"]
    assert [a["employee_id"] for a in actions] == ["501", "504", "502", "503"]
    assert actions[0] == {
        "due_at": "2026-10-19T22:00:00Z",
        "local_day": "2026-10-20",
        "zone": "Europe/Paris",
        "kind": "disable",
        "employee_id": "501",
        "employment_id": "77",
        "scheduled_at": "2026-09-20T09:00:00Z",
        "overdue": True,
        "sudden": False,
        "released": False,
        "attempts": 0,
    }
    assert [a["overdue"] for a in actions] == [True, False, False, False]
    assert [a["sudden"] for a in actions] == [False, True, False, False]
    assert actions[3]["due_at"] == "2026-11-09T23:00:00Z"  # winter time by then


def test_list_with_nothing_scheduled(storage: Storage, azurite: Azurite) -> None:
    """An empty schedule: said, exit 0."""
    code, out, _ = cli(azurite, "schedule", "list", "--days", "7")

    assert code == 0
    assert out == "Nothing is due or past due up to 2026-10-27 09:00:00Z.\nNo run is held.\n"


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (["schedule"], "required: SUBCOMMAND"),
        (["schedule", "list", "--days", "0"], "argument --days: must be from 1 to 366"),
        (["schedule", "list", "--days", "367"], "must be from 1 to 366"),
        (["schedule", "release"], "required: RUN_ID"),
        (["schedule", "release", "not-an-id"], "'not-an-id' is not a run id"),
    ],
)
def test_schedule_usage_errors_exit_2(azurite: Azurite, argv: list[str], said: str) -> None:
    """Bad arguments: exit 2 before anything is read."""
    code, out, err = cli(azurite, *argv)

    assert code == 2
    assert said in err
    assert out == ""


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["schedule", "--help"], ["list", "release", "examples:", "exit codes:"]),
        (["schedule", "list", "--help"], ["--days N", "--json", "examples:", "overdue"]),
        (["schedule", "release", "--help"], ["RUN_ID", "RELEASE_HELD_RUN", "examples:"]),
    ],
)
def test_schedule_help(azurite: Azurite, argv: list[str], expected: list[str]) -> None:
    """Each level has help with examples, exit 0."""
    code, out, _ = cli(azurite, *argv)

    assert code == 0
    for text in expected:
        assert text in out


# -- held runs, with the real timer ------------------------------------------------------------
@pytest.fixture
def world(storage: Storage) -> Iterator[World]:
    """Lucca, Entra with the company's domain, Azurite (as tests/integration/test_leavers.py)."""
    lucca, graph = LuccaSandbox(rate_limit=1000, window_seconds=1), GraphSandbox()
    with lucca, graph:
        graph.add_domain(DOMAIN, is_verified=True, is_default=True)
        made = World(lucca, graph, storage)
        yield made
        made.close()


def _held(world: World) -> tuple[str, list[str]]:
    """21 sudden disables due at DISABLE_AT, held by the timer: (run id, accounts)."""
    accounts = _leavers(world, 21, scheduled_before=timedelta(hours=1))
    report = world.run(DISABLE_AT)
    assert (report.held, report.sudden) == (21, 21)
    assert report.run_id is not None
    return report.run_id, accounts


def _releases(world: World) -> list[dict[str, Any]]:
    """The "schedule changed" entries recording a release."""
    return [
        e.details
        for e in IntegrationLog(world.storage).for_day(DISABLE_AT)
        if e.action is Action.SCHEDULED and e.details.get("change") == "released"
    ]


def test_held_run_is_listed_released_then_carried_out(world: World, azurite: Azurite) -> None:
    """`schedule list` names the held run; `schedule release` releases it (logged); the next
    timer run, with no RELEASE_HELD_RUN, disables all 21; releasing again finds nothing due."""
    run_id, accounts = _held(world)
    later = DISABLE_AT + timedelta(minutes=2)

    code, out, _ = cli(azurite, "schedule", "list", now=later)

    assert code == 0
    assert out.count("overdue, sudden") == 21
    out = " ".join(out.split())  # the sentences are wrapped
    assert f"Run {run_id} is held (since 2026-10-24 22:00:00Z): 21 of the 21 disables" in out
    assert f"python -m connector schedule release {run_id}" in out
    code, out, _ = cli(azurite, "schedule", "list", "--json", now=later)
    document = json.loads(out)
    assert document["held_run"] == {
        "run_id": run_id,
        "sudden": 21,
        "due_disables": 21,
        "max_sudden": 20,
        "rails": ["MAX_SUDDEN_DEACTIVATIONS", "MAX_DEACTIVATIONS_PER_DAY"],
        "done_today": 0,
        "max_per_day": 20,
        "logged": True,
    }
    [entry] = document["held_runs"]
    assert (entry["run_id"], entry["waiting"], entry["details"]["sudden"]) == (run_id, True, 21)

    code, out, err = cli(azurite, "schedule", "release", run_id, now=later)

    assert (code, err) == (0, "")
    out = " ".join(out.split())
    assert f"Released run {run_id}: 21 disables (21 sudden)" in out
    assert "re-checked against Lucca" in out
    assert world.graph.count("PATCH") == 0  # the command never touches Entra
    due_keys = {a.due_key for a in world.schedule.due(later)}
    assert len(due_keys) == 21
    assert world.schedule.released() == due_keys
    [details] = _releases(world)
    assert (details["run_id"], details["released"]) == (run_id, 21)
    code, out, _ = cli(azurite, "schedule", "list", "--json", now=later)
    document = json.loads(out)
    assert document["held_run"] is None
    assert document["held_runs"][0]["waiting"] is False
    assert all(a["released"] for a in document["actions"])

    report = world.run(DISABLE_AT + timedelta(minutes=5))  # no RELEASE_HELD_RUN

    assert (report.held, report.sudden, report.disabled) == (0, 0, 21)
    assert not any(world.enabled(account) for account in accounts)
    afterwards = DISABLE_AT + timedelta(minutes=6)
    code, _, err = cli(azurite, "schedule", "release", run_id, now=afterwards)
    assert code == 1
    assert "no disable is due now" in err
    assert f"run {run_id}, held at 2026-10-24 22:00:00Z, is no longer due" in err


def test_release_with_a_wrong_id_releases_nothing(world: World, azurite: Azurite) -> None:
    """A well-formed id that is not the held run's: exit 1, the held run named, nothing
    released or logged, and the timer still holds."""
    run_id, accounts = _held(world)
    later = DISABLE_AT + timedelta(minutes=2)

    code, out, err = cli(azurite, "schedule", "release", "0" * 12, now=later)

    assert (code, out) == (1, "")
    assert "nothing released: no run 000000000000 was held" in err
    said = " ".join(err.split())
    assert f"the run held now is {run_id} (21 of the 21 disables due were scheduled less" in said
    assert "make more than MAX_DEACTIVATIONS_PER_DAY=20 in a day" in said
    code, out, _ = cli(azurite, "schedule", "release", "0" * 12, "--json", now=later)
    assert code == 1
    assert json.loads(out)["held_run_id"] == run_id
    assert world.schedule.released() == frozenset()
    assert _releases(world) == []
    assert world.run(DISABLE_AT + timedelta(minutes=5)).held == 21
    assert all(world.enabled(account) for account in accounts)


def test_release_after_the_due_disables_changed(world: World, azurite: Azurite) -> None:
    """One more sudden disable fell due after the run was held: its id no longer matches;
    nothing released, and the new run's id is named."""
    run_id, _ = _held(world)
    _leavers(world, 1, scheduled_before=timedelta(hours=1))  # due at DISABLE_AT too
    later = DISABLE_AT + timedelta(minutes=2)

    code, _, err = cli(azurite, "schedule", "release", run_id, now=later)

    assert code == 1
    assert f"run {run_id} (held at 2026-10-24 22:00:00Z) is not what is due now" in err
    current = world.run(DISABLE_AT + timedelta(minutes=3))
    assert current.held == 22
    assert current.run_id is not None and current.run_id != run_id
    assert f"the run held now is {current.run_id} (22 of the 22" in err
    assert world.schedule.released() == frozenset()


def test_release_with_nothing_due(planned: Storage, azurite: Azurite) -> None:
    """Only future actions (the overdue one excluded by an earlier clock): exit 1, said."""
    code, out, err = cli(azurite, "schedule", "release", "a" * 12, now=NOW - timedelta(days=2))

    assert (code, out) == (1, "")
    assert "nothing released: no disable is due now, so there is no run to release" in err
    assert ScheduleStore(planned).released() == frozenset()
