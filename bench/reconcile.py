"""Benchmark of the reconciliation: 5,000 employees in step, then 5% of them changed.

Runs the real Lucca client and Graph SDK against the sandboxes over HTTP, and Azurite. Setup
(not measured) fills Lucca with a realistic population and Entra with its accounts, then brings
the tenant to a steady state with `Reconciliation.apply` (every employee linked, in step, its
schedule stored). Two runs are then measured, each as the nightly run does it (read, plan,
apply, with clients built afresh): A with nothing to change, B after 5% of the employees
changed (half in Lucca, half by hand in Entra). Each prints its Lucca and Graph requests, the
employees handed to the sync, the wall time and the peak memory; B checks that exactly the
changed employees were handed to the sync and that a dry plan then finds everything in step.

The measured runs use the connector's limiter as configured (`LUCCA_MAX_RPM`, default 30 a
minute) against a sandbox that, like Lucca, refuses more than 50 requests a window: the wall
time is what a tenant pays. `--window` shortens the window for both (a quick run, as the tests
do); setup and the final check use a 1-second window, since they are not measured.

    python -m bench.reconcile [--employees N] [--limiter real|fast] [--slice-pages N]
    python -m bench.reconcile --one-shot [--employees N] [--rpm N] [--window SECONDS]

Without `--one-shot` it runs the nightly reconciliation in slices instead (bench/nightly.py).
"""

from __future__ import annotations

import argparse
import itertools
import os
import platform
import random
import sys
import threading
import time
import tracemalloc
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from connector.cli.sync import SUCCEEDED  # noqa: E402
from connector.domain.entries import Action  # noqa: E402
from connector.flows.reconcile_report import Applied, Report  # noqa: E402
from connector.runtime.build import Clients, build_leaver_run, build_reconciliation  # noqa: E402
from connector.runtime.settings import Settings, load_settings  # noqa: E402
from connector.runtime.storage import storage_from_settings  # noqa: E402
from connector.storage.ratelimit import PARTITION, ROW, TABLE, LuccaRateLimiter  # noqa: E402
from connector.storage.tables import Storage  # noqa: E402
from tests.azurite import Azurite  # noqa: E402
from tests.conftest import sandbox_settings  # noqa: E402
from tests.sandboxes.base import RecordedRequest  # noqa: E402
from tests.sandboxes.graph import GraphSandbox  # noqa: E402
from tests.sandboxes.lucca import LuccaSandbox  # noqa: E402

DOMAIN = "acme.fr"
LUCCA_LIMIT = 50  # Lucca's own: 50 requests a minute, shared by the tenant
UNLIMITED = 1_000_000
SEED = 20240611
GIVEN = (
    "Alice", "Bruno", "Chloe", "Denis", "Emile", "Fanny", "Gilles", "Hugo", "Ines", "Jules",
    "Karim", "Lea", "Marc", "Nina", "Olivier", "Pauline", "Quentin", "Rose", "Samuel", "Thea",
    "Ugo", "Valentine", "William", "Yasmine", "Zoe",
)  # fmt: skip
FAMILY = (
    "Martin", "Bernard", "Dubois", "Thomas", "Robert", "Richard", "Petit", "Durand", "Leroy",
    "Moreau", "Simon", "Laurent", "Lefebvre", "Michel", "Garcia", "David", "Bertrand", "Roux",
    "Vincent", "Fournier", "Morel", "Girard", "Andre", "Mercier",
)  # fmt: skip
TITLES = (
    "Accountant", "Developer", "Designer", "Recruiter", "Buyer", "Analyst", "Engineer",
    "Consultant", "Technician", "Assistant", "Controller", "Sales",
)  # fmt: skip


def now() -> datetime:
    """The connector's clock: real time."""
    return datetime.now(UTC)


@dataclass(kw_only=True)
class Person:
    """One employee of the population, as the benchmark made it."""

    id: str
    kind: str  # permanent, fixed-term, upcoming, left
    title: str
    department: str
    object_id: str | None = None  # the Entra account made for them (upcoming: none)


@dataclass(kw_only=True)
class Population:
    """What setup made: the employees and the departments."""

    people: list[Person]
    departments: list[str]

    def kinds(self) -> Counter[str]:
        """How many employees of each kind."""
        return Counter(p.kind for p in self.people)


def populate(lucca: LuccaSandbox, graph: GraphSandbox, size: int) -> Population:
    """`size` employees in Lucca (1% managers, 3% fixed-term ending ahead, 1% starting soon,
    1% left within 30 days, the rest permanent) and an Entra account for each but the upcoming
    ones (created by the first reconciliation), with only the login, mail and names set; the
    leavers' accounts are still enabled (setup runs the leaver run once they are linked)."""
    rng = random.Random(SEED)
    today = date.today()
    departments = [
        lucca.add_department(f"Department {n:02d}") for n in range(max(2, min(40, size // 25)))
    ]
    managers = max(1, size // 100)
    special = {"fixed-term": 3 * size // 100, "upcoming": size // 100, "left": size // 100}
    kinds = [k for kind, n in special.items() for k in [kind] * n]
    kinds += ["permanent"] * (size - managers - len(kinds))
    rng.shuffle(kinds)
    kinds = ["permanent"] * managers + kinds
    people: list[Person] = []
    for n, kind in enumerate(kinds):
        given, family = rng.choice(GIVEN), rng.choice(FAMILY)
        email = f"{given}.{family}.{n}@{DOMAIN}".lower()
        start: date | str = date(rng.randint(2015, 2024), rng.randint(1, 12), rng.randint(1, 28))
        end: date | None = None
        if kind == "fixed-term":
            end = today + timedelta(days=rng.randint(20, 300))
        elif kind == "upcoming":
            start = today + timedelta(days=rng.randint(5, 60))
        elif kind == "left":
            start, end = "2022-03-01", today - timedelta(days=rng.randint(1, 28))
        boss = people[rng.randrange(managers)].id if n >= managers and rng.random() < 0.7 else None
        title, department = rng.choice(TITLES), rng.choice(departments)
        person_id = lucca.add_employee(
            given,
            f"{family}{n}",
            email,
            start=start,
            end=end,
            job_title=title,
            manager_id=boss if kind != "left" else None,
            department_id=department,
        )
        person = Person(id=person_id, kind=kind, title=title, department=department)
        if kind != "upcoming":
            person.object_id = graph.add_user(
                userPrincipalName=email,
                mail=email,
                givenName=given,
                surname=f"{family}{n}",
                displayName=f"{given} {family}{n}",
            )["id"]
        people.append(person)
    return Population(people=people, departments=departments)


def change(lucca: LuccaSandbox, graph: GraphSandbox, population: Population) -> set[str]:
    """5% of the employees changed: half in Lucca (a job title or a department), half by hand
    in Entra (a job title or a department), drift the nightly run must repair."""
    rng = random.Random(SEED + 1)
    eligible = [p for p in population.people if p.kind in ("permanent", "fixed-term")]
    chosen = rng.sample(eligible, max(2, len(population.people) // 20))
    in_lucca, in_entra = chosen[: len(chosen) // 2], chosen[len(chosen) // 2 :]
    for n, person in enumerate(in_lucca):
        position = lucca.job_position_of(person.id)
        assert position is not None
        if n % 2:
            lucca.update_job_position(position, job_title=f"Senior {person.title}")
        else:
            others = [d for d in population.departments if d != person.department]
            lucca.update_job_position(position, department_id=rng.choice(others))
    for n, person in enumerate(in_entra):
        assert person.object_id is not None
        attribute = "jobTitle" if n % 2 else "department"
        graph.edit_user(person.object_id, **{attribute: "Changed by hand in Entra"})
    return {p.id for p in chosen}


@dataclass(kw_only=True)
class Run:
    """One reconciliation's figures."""

    report: Report
    applied: Applied
    seconds: dict[str, float]  # read, plan, apply
    lucca: list[list[RecordedRequest]]  # by phase
    graph: list[list[RecordedRequest]]  # by phase
    refused: int  # Lucca API requests the sandbox refused (429)
    memory: Memory


def reset_limiter(storage: Storage) -> None:
    """A full bucket, as after a quiet period (setup's budget is not the measured run's)."""
    storage.on_table(TABLE, lambda table: table.delete_entity(PARTITION, ROW))


class Memory:
    """The process's peak resident memory while it runs (sampled every 20 ms), or with
    `traced` the peak of Python's allocations (tracemalloc: exact, but it slows the Graph
    SDK's parsing of users about fifteenfold, so the wall time is no longer the real one)."""

    def __init__(self, *, traced: bool = False) -> None:
        self.traced = traced
        self.start = self.peak = self._rss()
        self._done = threading.Event()
        if traced:
            tracemalloc.start()
            self.start = 0
        else:
            self._sampler = threading.Thread(target=self._sample, daemon=True)
            self._sampler.start()

    @staticmethod
    def _rss() -> int:
        with open("/proc/self/statm", encoding="ascii") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

    def _sample(self) -> None:
        while not self._done.wait(0.02):
            self.peak = max(self.peak, self._rss())

    def stop(self) -> None:
        """Stop measuring."""
        if self.traced:
            self.peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
        else:
            self._done.set()
            self._sampler.join()
            self.peak = max(self.peak, self._rss())

    def describe(self) -> str:
        """One line."""
        mib = 2**20
        if self.traced:
            return f"{self.peak / mib:.1f} MiB peak of Python allocations (tracemalloc)"
        return (
            f"{self.peak / mib:.0f} MiB peak RSS of the process, "
            f"{(self.peak - self.start) / mib:.0f} MiB above its {self.start / mib:.0f} MiB at "
            "the start (the sandboxes share the "
            "process: their data is in the start figure)"
        )


def reconcile(
    settings: Settings,
    lucca: LuccaSandbox,
    graph: GraphSandbox,
    *,
    apply: bool = True,
    traced: bool = False,
) -> Run:
    """Read, plan (and apply), as the nightly run does, with fresh clients."""
    storage = storage_from_settings(settings)
    reset_limiter(storage)
    lucca.reset_log()
    graph.reset_log()
    marks: list[tuple[int, int, float]] = []

    def mark() -> None:
        marks.append((len(lucca.requests), len(graph.requests), time.perf_counter()))

    memory = Memory(traced=traced)
    mark()
    clients = Clients.from_settings(settings, storage)
    try:
        reconciliation = build_reconciliation(settings, storage, clients, now)
        snapshot = reconciliation.read()
        mark()
        report = reconciliation.plan(snapshot)
        mark()
        applied = reconciliation.apply(report, snapshot) if apply else Applied()
        mark()
    finally:
        clients.close()
        memory.stop()
        storage.close()
    phases = list(itertools.pairwise(marks))
    api = [r for r in lucca.requests if r.path.startswith("/lucca-api/")]
    return Run(
        report=report,
        applied=applied,
        seconds=dict(zip(("read", "plan", "apply"), (b[2] - a[2] for a, b in phases), strict=True)),
        lucca=[lucca.requests[a[0] : b[0]] for a, b in phases],
        graph=[graph.requests[a[1] : b[1]] for a, b in phases],
        refused=len(api) - sum(lucca.api_calls.values()),
        memory=memory,
    )


def lucca_kind(request: RecordedRequest) -> str:
    """What a Lucca request was for."""
    if request.path == "/connect/token":
        return "token"
    if request.path == "/lucca-api/employees":
        return "employee pages"
    return request.path.removeprefix("/lucca-api/").split("/")[0]


def duration(seconds: float) -> str:
    """`12 min 03 s`, or `4.2 s`."""
    if seconds < 60:
        return f"{seconds:.1f} s"
    return f"{int(seconds // 60)} min {seconds % 60:02.0f} s"


def show(title: str, run: Run) -> None:
    """Print one run's figures."""
    report, phases = run.report, ("read", "plan", "apply")
    lucca = [r for phase in run.lucca for r in phase]
    graph = [r for phase in run.graph for r in phase]
    kinds = Counter(lucca_kind(r) for r in lucca)
    api = sum(n for kind, n in kinds.items() if kind != "token")
    detail = ", ".join(f"{n} {kind}" for kind, n in kinds.most_common() if kind != "token")
    reads = sum(1 for r in graph if r.method == "GET")
    by_phase = ", ".join(
        f"{p} {sum(1 for r in rs if r.path != '/connect/token')}"
        for p, rs in zip(phases, run.lucca, strict=True)
    )
    graph_by_phase = ", ".join(f"{p} {len(rs)}" for p, rs in zip(phases, run.graph, strict=True))
    print(f"\n{title}")
    print(
        f"  population: {report.lucca_employees} Lucca employees read, "
        f"{len(report.findings)} reconciled; {report.entra_users} Entra accounts"
    )
    print(f"  verdicts: {report.summary().partition(': ')[2]}")
    print(f"  handed to the sync: {len(report.to_apply)}; {run.applied.summary()}")
    print(
        f"  Lucca requests: {api} API ({detail}) + {kinds['token']} token; "
        f"{run.refused} refused by the sandbox's limit (429)"
    )
    print(f"    by phase: {by_phase}")
    print(
        f"  Graph requests: {reads} reads, {len(graph) - reads} writes (by phase: {graph_by_phase})"
    )
    total = sum(run.seconds.values())
    split = ", ".join(f"{p} {duration(run.seconds[p])}" for p in phases)
    print(f"  wall time: {duration(total)} ({split})")
    print(f"  memory: {run.memory.describe()}")


def settle(settings: Settings, lucca: LuccaSandbox, graph: GraphSandbox) -> list[str]:
    """`reconcile --apply`, the leaver run (it disables the leavers' accounts, now linked),
    then `reconcile --apply` until nothing is left to apply (at most three rounds)."""
    rounds = [reconcile(settings, lucca, graph).applied.summary()]
    storage = storage_from_settings(settings)
    clients = Clients.from_settings(settings, storage)
    try:
        rounds.append(
            "leaver run: " + build_leaver_run(settings, storage, clients, now).run().summary()
        )
    finally:
        clients.close()
        storage.close()
    for _ in range(3):
        run = reconcile(settings, lucca, graph)
        rounds.append(run.applied.summary())
        if not run.report.to_apply:
            break
    return rounds


def check(problems: list[str], condition: bool, message: str) -> None:
    """Keep `message` when `condition` is false, and say so."""
    if not condition:
        problems.append(message)
        print(f"  CHECK FAILED: {message}")


def limiter_line(settings: Settings) -> str:
    """Which limiter the measured runs use."""
    limiter = LuccaRateLimiter(  # made, never used: only its figures are wanted
        storage_from_settings(settings),
        per_minute=settings.LUCCA_MAX_RPM,
        window_seconds=settings.LUCCA_RATE_WINDOW_SECONDS,
    )
    window = settings.LUCCA_RATE_WINDOW_SECONDS
    sustained = limiter.rate * window
    return (
        f"Lucca limiter: LUCCA_MAX_RPM={settings.LUCCA_MAX_RPM} per {window:g} s "
        f"(burst {limiter.burst}, sustained {sustained:.0f} per {window:g} s); the sandbox "
        f"refuses more than {LUCCA_LIMIT} per {window:g} s, as Lucca does per minute"
    )


def timed(what: str, step: Callable[[], object]) -> object:
    """Run `step`, print how long it took."""
    started = time.perf_counter()
    result = step()
    print(f"{what}: {duration(time.perf_counter() - started)}", flush=True)
    return result


def arguments() -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--employees", type=int, default=5000)
    parser.add_argument("--rpm", type=int, default=None, help="LUCCA_MAX_RPM (default: 30)")
    parser.add_argument(
        "--tracemalloc",
        action="store_true",
        help="measure Python's allocations instead of the RSS (exact, but far slower)",
    )
    parser.add_argument(
        "--window", type=float, default=60.0, help="LUCCA_RATE_WINDOW_SECONDS (default: 60)"
    )
    parser.add_argument(
        "--one-shot", action="store_true", help="runs A and B above, not the sliced night"
    )
    parser.add_argument(
        "--limiter",
        choices=("real", "fast"),
        default="real",
        help="the sliced night's Lucca pace: 30 a minute (real) or 30 a second (fast)",
    )
    parser.add_argument("--slice-pages", type=int, default=40, help="RECONCILE_SLICE_PAGES")
    return parser.parse_args()


def main() -> None:
    """Run the benchmark and print its figures; exit 1 when a check fails."""
    args = arguments()
    if not args.one_shot:
        from bench.nightly import run_night  # noqa: PLC0415 (it imports this module)

        print(
            f"machine: {platform.machine()}, {os.cpu_count()} cores, "
            f"Python {platform.python_version()}; {args.employees} employees, "
            f"limiter {args.limiter}, RECONCILE_SLICE_PAGES={args.slice_pages}",
            flush=True,
        )
        sys.exit(0 if run_night(args.employees, args.limiter, args.slice_pages) else 1)
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    )
    problems: list[str] = []
    lucca, graph = LuccaSandbox(), GraphSandbox()
    with Azurite() as azurite, lucca, graph:
        graph.add_domain(DOMAIN, is_default=True)
        fast_env = sandbox_settings(azurite.connection_string, lucca, graph)  # 50 a second
        fast_env["MAX_SUDDEN_DEACTIVATIONS"] = str(args.employees)  # setup's leaver run
        measured_env = dict(fast_env, LUCCA_RATE_WINDOW_SECONDS=f"{args.window:g}")
        measured_env.pop("MAX_SUDDEN_DEACTIVATIONS")
        measured_env.pop("LUCCA_MAX_RPM")
        if args.rpm is not None:
            measured_env["LUCCA_MAX_RPM"] = str(args.rpm)
        fast, measured = load_settings(fast_env), load_settings(measured_env)
        print(limiter_line(measured), flush=True)

        lucca.limit(UNLIMITED, 1)
        population = populate(lucca, graph, args.employees)
        print(f"setup: {len(population.people)} employees {dict(population.kinds())}")
        started = time.perf_counter()
        rounds = settle(fast, lucca, graph)
        print(
            f"setup, to a steady state (not measured, 1-second limiter): "
            f"{duration(time.perf_counter() - started)}; " + " | ".join(rounds),
            flush=True,
        )

        lucca.limit(LUCCA_LIMIT, args.window)
        first = reconcile(measured, lucca, graph, traced=args.tracemalloc)
        show("run A, nothing to change (read + plan + apply, as the nightly run):", first)
        check(problems, not first.report.to_apply, "run A handed employees to the sync")
        check(problems, not first.report.needs_a_person, "run A found something for a person")

        changed = change(lucca, graph, population)
        second = reconcile(measured, lucca, graph, traced=args.tracemalloc)
        show(f"run B, {len(changed)} employees changed (half in Lucca, half in Entra):", second)
        handed = {f.employee_id for f in second.report.to_apply}
        check(
            problems,
            handed == changed,
            f"run B handed {len(handed & changed)} of the changed "
            f"and {len(handed - changed)} others to the sync",
        )
        actions = set(second.applied.actions.values())
        check(problems, actions <= {Action.UPDATED}, f"run B's syncs ended {actions}")
        check(problems, all(a in SUCCEEDED for a in actions), "a sync of run B failed")

        lucca.limit(UNLIMITED, 1)
        after = reconcile(fast, lucca, graph, apply=False)
        print(f"\nafter run B, a dry plan (not measured): {after.report.summary()}")
        check(problems, not after.report.to_apply, "the dry plan after run B finds work left")
        check(
            problems, not after.report.needs_a_person, "the dry plan finds something for a person"
        )
    if problems:
        sys.exit(1)


if __name__ == "__main__":
    main()
