"""Benchmark of the nightly reconciliation in slices: one night, tick after tick, as the
`reconcile_nightly` timer runs it (issue 16, point 4).

Setup (not measured) fills Lucca with the benchmark's population (bench/reconcile.py
`populate`: 1% managers, 3% fixed-term, 1% upcoming, 1% left within 30 days) and Entra with an
account for each but the upcoming ones. The night then runs in observe mode (it plans every
employee and writes nothing: a first night in apply mode would mostly be the links' writes),
with the connector's Lucca limiter (`--limiter real`: LUCCA_MAX_RPM=30 a minute, against a
sandbox that, like Lucca, refuses more than 50 a minute; `--limiter fast`: the same counts a
second). Each tick is the timer firing 10 minutes after the last (the connector's clock is
moved; the slices run back to back). It prints the Lucca and Graph requests, the slices, the
ticks, the wall time and the employees reconciled, and checks that each employee of the
population was planned exactly once (exit 1 otherwise).
"""

from __future__ import annotations

import time
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from datetime import time as day_time
from zoneinfo import ZoneInfo

from bench.reconcile import DOMAIN, LUCCA_LIMIT, UNLIMITED, duration, lucca_kind, populate
from connector.domain.entries import Action
from connector.flows.night_slices import SliceLog
from connector.flows.nightly import STATE_TABLE
from connector.runtime.build import Clients, build_nightly
from connector.runtime.settings import load_settings
from connector.runtime.storage import storage_from_settings
from connector.storage.log import IntegrationLog
from tests.azurite import Azurite
from tests.conftest import sandbox_settings
from tests.sandboxes.graph import GraphSandbox
from tests.sandboxes.lucca import LuccaSandbox

PARIS = ZoneInfo("Europe/Paris")
TICK = timedelta(minutes=10)  # RECONCILE_TIMER's default
MAX_TICKS = 144  # a day of ticks


def run_night(employees: int, limiter: str, slice_pages: int) -> bool:
    """Set up, run one night tick after tick, print its figures; True when every check holds."""
    window = 1.0 if limiter == "fast" else 60.0
    lucca, graph = LuccaSandbox(), GraphSandbox()
    with Azurite() as azurite, lucca, graph:
        graph.add_domain(DOMAIN, is_default=True)
        env = sandbox_settings(azurite.connection_string, lucca, graph)
        env |= {
            "LUCCA_MAX_RPM": "30",
            "LUCCA_RATE_WINDOW_SECONDS": f"{window:g}",
            "CONNECTOR_MODE": "observe",
            "RECONCILE_MAX_CHANGES": str(10 * employees),
            "RECONCILE_SLICE_PAGES": str(slice_pages),
        }
        settings = load_settings(env)
        lucca.limit(UNLIMITED, 1)
        started = time.perf_counter()
        population = populate(lucca, graph, employees)
        print(
            f"setup (not measured): {len(population.people)} employees "
            f"{dict(population.kinds())}, {len(graph.users)} Entra accounts, "
            f"{duration(time.perf_counter() - started)}",
            flush=True,
        )
        lucca.limit(LUCCA_LIMIT, window)
        lucca.reset_log()
        graph.reset_log()
        night = date.today()
        first = datetime.combine(night, day_time(2, 0), PARIS).astimezone(UTC)
        moment = first
        storage = storage_from_settings(settings)
        clients = Clients.from_settings(settings, storage)
        nightly = build_nightly(settings, storage, lambda: clients, lambda: moment)
        ticks, slice_seconds = 0, []
        started = time.perf_counter()
        try:
            while ticks < MAX_TICKS:
                ticks += 1
                begun = time.perf_counter()
                outcome = nightly.run()
                slice_seconds.append(time.perf_counter() - begun)
                print(f"  tick {ticks}: {outcome.summary()[:110]}", flush=True)
                if outcome.ran and outcome.finished:
                    break
                moment += TICK
            wall = time.perf_counter() - started
            planned = SliceLog(storage, STATE_TABLE, night).planned()
            entries = IntegrationLog(storage, clock=lambda: moment + timedelta(days=1)).search(
                since=first - timedelta(hours=1), limit=100
            )
        finally:
            clients.close()
            storage.close()
        return _report(
            population_ids={p.id for p in population.people},
            planned=planned,
            summaries=[e for e in entries if e.action is Action.RECONCILED],
            lucca=lucca,
            graph=graph,
            ticks=ticks,
            wall=wall,
            slowest=max(slice_seconds),
            window=window,
        )


def _report(
    *,
    population_ids: set[str],
    planned: dict[int, list[str]],
    summaries: list[object],
    lucca: LuccaSandbox,
    graph: GraphSandbox,
    ticks: int,
    wall: float,
    slowest: float,
    window: float,
) -> bool:
    """Print the night's figures; check each employee was planned exactly once."""
    counted = Counter(i for ids in planned.values() for i in ids)
    kinds = Counter(lucca_kind(r) for r in lucca.requests)
    api = sum(n for kind, n in kinds.items() if kind != "token")
    detail = ", ".join(f"{n} {kind}" for kind, n in kinds.most_common() if kind != "token")
    refused = sum(1 for r in lucca.requests if r.path.startswith("/lucca-api/")) - sum(
        lucca.api_calls.values()
    )
    paths = Counter(
        "users/delta" if "/users/delta" in r.path else r.path.removeprefix("/v1.0/").split("/")[0]
        for r in graph.requests
        if r.method == "GET"
    )
    writes = sum(1 for r in graph.requests if r.method != "GET")
    print(f"\nnight: {ticks} ticks, {len(planned)} slices, wall time {duration(wall)}")
    print(f"  slowest slice: {duration(slowest)} (functionTimeout: 10 min)")
    print(f"  employees reconciled: {len(counted)} ({sum(counted.values())} plans)")
    print(f"  Lucca requests: {api} API ({detail}); {refused} refused by the sandbox (429)")
    print(
        f"  Graph requests: {sum(paths.values())} reads "
        f"({', '.join(f'{n} {p}' for p, n in paths.most_common())}), {writes} writes"
    )
    per_minute = 30
    print(
        f"  at the real pace ({per_minute} Lucca requests a minute): "
        f"{duration(api / per_minute * 60)} of Lucca's budget"
        + ("" if window == 60 else " (this run: a 1-second window)")
    )
    problems = []
    if set(counted) != population_ids:
        problems.append(
            f"{len(population_ids - set(counted))} employees never planned, "
            f"{len(set(counted) - population_ids)} unknown ones planned"
        )
    twice = [i for i, n in counted.items() if n > 1]
    if twice:
        problems.append(f"{len(twice)} employees planned more than once")
    if len(summaries) != 1:
        problems.append(f"{len(summaries)} summary entries instead of one")
    for problem in problems:
        print(f"  CHECK FAILED: {problem}")
    if not problems:
        print("  check: every employee reconciled exactly once")
    return not problems
