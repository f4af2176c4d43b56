"""`python -m connector reconcile [--apply]`: the go-live report and its application, through
`connector.cli.main.main`, with the real Lucca client and Graph SDK against the sandboxes over HTTP,
and Azurite."""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import pytest

from connector.domain.entries import Action
from connector.flows.reconcile import Reconciliation
from connector.runtime.build import Clients, build_reconciliation
from connector.runtime.settings import load_settings
from connector.storage.changes import ChangeFeed
from connector.storage.links import Links
from connector.storage.log import IntegrationLog
from connector.storage.schedule import ScheduleStore
from connector.storage.tables import Storage
from tests.conftest import run_cli
from tests.integration.conftest import writes
from tests.sandboxes.graph import GraphSandbox
from tests.sandboxes.lucca import LuccaSandbox

pytestmark = pytest.mark.azurite
DOMAIN = "acme.fr"
TODAY = datetime.now(UTC).date()


def day(offset: int) -> date:
    """Today plus `offset` days."""
    return TODAY + timedelta(days=offset)


@dataclass
class GoLive:
    """The go-live tenant: Lucca's employees and what Entra already holds."""

    matched: str  # Entra has her email: linked by mail, job title updated
    new: str  # no account anywhere: created
    elsewhere: tuple[str, str, str]  # accounts under other emails: likely duplicates
    two: str  # two accounts carry her name: a likely duplicate with two candidates
    anchored_twice: str  # two accounts carry his anchor: a conflict
    no_email: str  # cannot be created
    taken: str  # the account with his email is linked to another employee
    holder: str  # that other employee
    left: str  # left 10 days ago, account still enabled: linked, disable scheduled
    left_no_account: str  # left 10 days ago, no account: nothing is created
    left_long_ago: str  # left a year ago: outside the population
    upcoming: str  # starts in 10 days: created disabled, enable scheduled
    taken_account: dict[str, object]
    unknown: dict[str, object]  # an account anchored to an id Lucca does not know


def go_live(lucca: LuccaSandbox, graph: GraphSandbox, storage: Storage) -> GoLive:
    """The scenario the issue names, and the ordinary cases around it."""
    matched = lucca.add_employee("Alice", "Martin", f"alice.martin@{DOMAIN}", job_title="CFO")
    graph.add_user(
        userPrincipalName=f"alice.martin@{DOMAIN}",
        mail=f"alice.martin@{DOMAIN}",
        givenName="Alice",
        surname="Martin",
        displayName="Alice Martin",
        jobTitle="Accountant",
    )
    new = lucca.add_employee("Bruno", "Durand", f"bruno.durand@{DOMAIN}")
    elsewhere = (
        lucca.add_employee("Chloé", "Petit", f"chloe.petit@{DOMAIN}"),
        lucca.add_employee("Denis", "Roux", f"denis.roux@{DOMAIN}"),
        lucca.add_employee("Émile", "Faure", f"emile.faure@{DOMAIN}"),
    )
    graph.add_user(
        userPrincipalName=f"cpetit@{DOMAIN}",
        mail=f"cpetit@{DOMAIN}",
        givenName="Chloé",
        surname="Petit",
        displayName="Chloé Petit",
    )
    graph.add_user(userPrincipalName=f"droux@{DOMAIN}", displayName="Denis Roux")
    graph.add_user(
        userPrincipalName=f"e.faure@{DOMAIN}",
        givenName="Emile",
        surname="FAURE",
        displayName="FAURE Emile",
    )
    two = lucca.add_employee("Fanny", "Blanc", f"fanny.blanc@{DOMAIN}")
    graph.add_user(userPrincipalName=f"fblanc@{DOMAIN}", displayName="Fanny Blanc")
    graph.add_user(
        userPrincipalName=f"fanny.b@{DOMAIN}",
        givenName="Fanny",
        surname="Blanc",
        accountEnabled=False,
    )
    anchored_twice = lucca.add_employee("Gilles", "Noir", f"gilles.noir@{DOMAIN}")
    for upn in ("gilles.noir", "gnoir"):
        graph.add_user(
            userPrincipalName=f"{upn}@{DOMAIN}",
            displayName="Gilles Noir",
            employeeId=f"lucca-{anchored_twice}",
        )
    no_email = lucca.add_employee("Hugo", "Vert", None)
    holder = lucca.add_employee("Jules", "Gris", f"jules.gris@{DOMAIN}")
    taken = lucca.add_employee("Ivan", "Gris", f"ivan.gris@{DOMAIN}")
    taken_account = graph.add_user(  # Jules's account, in step, under Ivan's login
        userPrincipalName=f"ivan.gris@{DOMAIN}",
        mail=f"jules.gris@{DOMAIN}",
        givenName="Jules",
        surname="Gris",
        displayName="Jules Gris",
        department="General",
        employeeId=f"lucca-{holder}",
    )
    Links(storage).link(holder, str(taken_account["id"]), how="mail", at=datetime.now(UTC))
    left = lucca.add_employee("Karim", "Leroy", f"karim.leroy@{DOMAIN}", end=day(-10))
    graph.add_user(
        userPrincipalName=f"karim.leroy@{DOMAIN}",
        mail=f"karim.leroy@{DOMAIN}",
        givenName="Karim",
        surname="Leroy",
        displayName="Karim Leroy",
    )
    left_no_account = lucca.add_employee("Léa", "Moreau", f"lea.moreau@{DOMAIN}", end=day(-10))
    left_long_ago = lucca.add_employee(
        "Marc", "Simon", f"marc.simon@{DOMAIN}", start="2023-01-01", end=day(-400)
    )
    upcoming = lucca.add_employee("Nina", "Lambert", f"nina.lambert@{DOMAIN}", start=day(10))
    unknown = graph.add_user(
        userPrincipalName=f"old.timer@{DOMAIN}", displayName="Old Timer", employeeId="lucca-99999"
    )
    return GoLive(
        matched=matched,
        new=new,
        elsewhere=elsewhere,
        two=two,
        anchored_twice=anchored_twice,
        no_email=no_email,
        taken=taken,
        holder=holder,
        left=left,
        left_no_account=left_no_account,
        left_long_ago=left_long_ago,
        upcoming=upcoming,
        taken_account=taken_account,
        unknown=unknown,
    )


def verdicts(report: dict[str, object]) -> dict[str, str]:
    """Employee id → verdict, from `--json`."""
    findings = report["findings"]
    assert isinstance(findings, list)
    return {f["employee_id"]: f["verdict"] for f in findings}


def finding(report: dict[str, object], employee_id: str) -> dict[str, object]:
    """One employee's finding, from `--json`."""
    findings = report["findings"]
    assert isinstance(findings, list)
    [found] = [f for f in findings if f["employee_id"] == employee_id]
    assert isinstance(found, dict)
    return found


def test_the_go_live_report_names_each_case_and_writes_nothing(
    lucca: LuccaSandbox, graph: GraphSandbox, storage: Storage, environ: dict[str, str]
) -> None:
    """The dry run: every case in its section, by name, exit 1 (a person must look), and no
    write anywhere: no Graph write, no new link, no schedule, no integration log entry."""
    t = go_live(lucca, graph, storage)
    graph.reset_log()

    code, out, err = run_cli(environ, "reconcile")

    assert code == 1, err
    assert "Conflicts (nothing is done; resolve them in Entra): 2" in out
    assert "Likely duplicates (never created by the reconciliation): 4" in out
    assert "Cannot be created: 1" in out
    assert f"  {t.no_email}  Hugo Vert <no professional email> [active]  " in out
    for upn in ("cpetit", "droux", "e.faure", "fblanc", "fanny.b"):  # one line per employee
        assert f"candidates {upn}@{DOMAIN}" in out or f", {upn}@{DOMAIN}" in out
    assert f", fanny.b@{DOMAIN} (disabled)" in out
    assert f"  {t.matched}  Alice Martin <alice.martin@{DOMAIN}> [active]  matched by" in out
    assert "jobTitle: Accountant → CFO" in out
    assert "lucca-99999  old.timer@acme.fr (enabled)" in out
    assert "Dry run: nothing was written. `--apply` would hand 4 employees to the sync." in out
    assert "Marc Simon" not in out  # left a year ago: not reconciled
    assert writes(graph) == []
    assert Links(storage).all() == [Links(storage).of_employee(t.holder)]
    assert IntegrationLog(storage).search(since=datetime.now(UTC) - timedelta(hours=1)) == []

    code, text, _ = run_cli(environ, "reconcile", "--json")
    report = json.loads(text)
    assert code == 1
    assert verdicts(report) == {
        t.matched: "to link",
        t.new: "to create",
        **dict.fromkeys(t.elsewhere, "likely duplicate"),
        t.two: "likely duplicate",
        t.anchored_twice: "conflict",
        t.no_email: "cannot be created",
        t.holder: "in step",
        t.taken: "conflict",
        t.left: "to link",
        t.left_no_account: "nothing to do",
        t.upcoming: "to create",
    }
    assert len(finding(report, t.two)["candidates"]) == 2  # type: ignore[arg-type]
    assert finding(report, t.matched)["matched_by"] == "mail"
    assert finding(report, t.holder)["matched_by"] == "link"
    assert f"linked to Lucca employee {t.holder}" in str(finding(report, t.taken)["message"])
    assert [a["employeeId"] for a in report["unknown_anchors"]] == ["lucca-99999"]
    leaver = finding(report, t.left)
    assert leaver["schedule_differs"] is True
    assert str(leaver["schedule"][0]).startswith(  # type: ignore[index]
        f"disable scheduled for {day(-9):%Y-%m-%d} 00:00 Europe/Paris"
    )


def test_the_go_live_reads_in_pages_not_one_query_per_employee(
    lucca: LuccaSandbox, graph: GraphSandbox, storage: Storage, environ: dict[str, str]
) -> None:
    """Lucca: the employee list in pages of 100 with embedded documents, every status, the
    departments in one list, and no GET of one employee or department; Graph: the user list
    with `$select` and the manager expanded, and no `$filter` lookup per employee."""
    go_live(lucca, graph, storage)
    lucca.requests.clear()
    graph.reset_log()

    code, _, err = run_cli(environ, "reconcile")

    assert code == 1, err
    lists = [r for r in lucca.requests if r.path == "/lucca-api/employees"]
    assert len(lists) == 1
    assert lists[0].param("limit") == "100"
    assert "embedded" in str(lists[0].param("include"))
    assert lists[0].param("status") == "active,upcoming,deactivated"
    assert not [r for r in lucca.requests if r.path.startswith("/lucca-api/employees/")]
    departments = [r for r in lucca.requests if r.path.startswith("/lucca-api/departments")]
    assert [(r.path, r.param("limit")) for r in departments] == [("/lucca-api/departments", "100")]
    user_reads = [r for r in graph.requests if r.method == "GET" and r.path == "/v1.0/users"]
    assert len(user_reads) == 1
    assert "employeeId" in str(user_reads[0].param("$select"))
    assert str(user_reads[0].param("$expand")).startswith("manager")
    assert not [r for r in graph.requests if r.param("$filter")]


def test_apply_creates_no_duplicate_and_touches_nothing_it_may_not(
    lucca: LuccaSandbox, graph: GraphSandbox, storage: Storage, environ: dict[str, str]
) -> None:
    """--apply: Bruno and Nina are created (Nina disabled until her first day, the enable
    scheduled), Alice and Karim linked (Alice's title written, Karim's disable scheduled);
    no account for the likely duplicates, the conflict, Hugo or Léa; the account linked to
    Jules is not touched. A second --apply hands nobody to the sync."""
    t = go_live(lucca, graph, storage)
    before = {u["id"]: dict(u) for u in graph.users}
    graph.reset_log()

    code, out, err = run_cli(environ, "reconcile", "--apply")

    assert code == 1, err  # the conflicts and duplicates still wait for a person
    assert "Applied: 2 created, 2 linked." in out
    posts = [r.json()["userPrincipalName"] for r in graph.requests if r.method == "POST"]
    assert sorted(posts) == [f"bruno.durand@{DOMAIN}", f"nina.lambert@{DOMAIN}"]
    by_upn = {u["userPrincipalName"]: u for u in graph.users}
    assert len(by_upn) == len(graph.users)  # no login twice
    assert by_upn[f"nina.lambert@{DOMAIN}"]["accountEnabled"] is False
    assert by_upn[f"bruno.durand@{DOMAIN}"]["accountEnabled"] is True
    assert by_upn[f"alice.martin@{DOMAIN}"]["jobTitle"] == "CFO"
    taken = graph.user(str(t.taken_account["id"]))
    assert taken == before[str(t.taken_account["id"])]
    assert by_upn[f"karim.leroy@{DOMAIN}"]["accountEnabled"] is True  # the timer disables
    links = Links(storage)
    assert links.employee_of(str(t.taken_account["id"])) == t.holder
    for employee_id in (*t.elsewhere, t.two, t.anchored_twice, t.no_email, t.left_no_account):
        assert links.of_employee(employee_id) is None
    schedule = ScheduleStore(storage)
    [disable] = schedule.upcoming(t.left)
    assert (disable.kind, disable.local_day) == ("disable", day(-9))
    [enable] = schedule.upcoming(t.upcoming)
    assert (enable.kind, enable.local_day) == ("enable", day(10))
    entries = IntegrationLog(storage).search(since=datetime.now(UTC) - timedelta(hours=1))
    created = [e for e in entries if e.action is Action.CREATED]
    assert sorted(e.employee_id or "" for e in created) == sorted([t.new, t.upcoming])

    graph.reset_log()
    code, out, _ = run_cli(environ, "reconcile", "--apply")

    assert "Dry run" not in out
    assert "Applied: nothing to apply." in out
    assert writes(graph) == []


def test_a_deactivated_employee_is_never_created_even_when_applied(
    lucca: LuccaSandbox, graph: GraphSandbox, storage: Storage, environ: dict[str, str]
) -> None:
    """Only leavers: nothing to create, nothing applied, exit 0."""
    lucca.add_employee("Léa", "Moreau", f"lea.moreau@{DOMAIN}", end=day(-3))

    code, out, err = run_cli(environ, "reconcile", "--apply")

    assert (code, err) == (0, "")
    assert "1 employee reconciled: 1 nothing to do" in out
    assert graph.users == []
    assert writes(graph) == []


class Terminal(io.StringIO):
    """A stream that says it is a terminal."""

    def isatty(self) -> bool:
        return True


def test_a_progress_bar_on_a_terminal_only(
    lucca: LuccaSandbox, graph: GraphSandbox, environ: dict[str, str]
) -> None:
    """On a terminal stderr shows the phases and a bar ending at n/n, then clears its line;
    otherwise (and with --json on a terminal) stderr stays empty."""
    from connector.cli import main as cli  # noqa: PLC0415

    for n in range(3):
        lucca.add_employee(f"P{n}", "Test", f"p{n}.test@{DOMAIN}")
    out, err = io.StringIO(), Terminal()

    code = cli.main(["reconcile"], environ=environ, out=out, err=err)

    shown = err.getvalue()
    assert code == 0
    assert "reading Entra" in shown
    assert f"planning       [{'#' * 30}] 3/3" in shown
    assert shown.endswith("\r\033[K")
    assert "To create: 3" in out.getvalue()

    _, _, plain = run_cli(environ, "reconcile")
    quiet = Terminal()
    cli.main(["reconcile", "--json"], environ=environ, out=io.StringIO(), err=quiet)
    assert (plain, quiet.getvalue()) == ("", "")


def test_help_says_what_apply_never_does(environ: dict[str, str]) -> None:
    """`reconcile --help`: the dry run by default and the three things --apply never does."""
    code, out, _ = run_cli(environ, "reconcile", "--help")

    assert code == 0
    text = " ".join(out.split())
    assert "Nothing is written unless --apply" in text
    assert "never creates an account for a deactivated employee" in text
    assert "never enables one before its start date" in text
    assert "never touches an account linked to another Lucca employee" in text


def reconciliation(environ: dict[str, str], storage: Storage) -> tuple[Reconciliation, Clients]:
    """The reconciliation as the command builds it (the caller closes the clients)."""
    settings = load_settings(environ)
    clients = Clients.from_settings(settings, storage)
    return build_reconciliation(settings, storage, clients, lambda: datetime.now(UTC)), clients


def test_apply_leaves_an_employee_synced_since_the_read_to_the_queue(
    lucca: LuccaSandbox, graph: GraphSandbox, storage: Storage, environ: dict[str, str]
) -> None:
    """Between the read and the apply the change worker synced Bob (his Lucca state read after
    the snapshot), and an event for Cy was queued: the apply does not write the older snapshot
    over them; Ada, untouched since, is created."""
    ada = lucca.add_employee("Ada", "Lovelace", f"ada.lovelace@{DOMAIN}")
    bob = lucca.add_employee("Bob", "Martin", f"bob.martin@{DOMAIN}")
    cy = lucca.add_employee("Cy", "Young", f"cy.young@{DOMAIN}")
    rec, clients = reconciliation(environ, storage)
    try:
        snapshot = rec.read()
        report = rec.plan(snapshot)
        feed = ChangeFeed(storage)
        feed.mark_applied(bob, datetime.now(UTC) + timedelta(seconds=1))
        claim = feed.claim(cy, datetime.now(UTC) + timedelta(seconds=1), None)
        assert claim is not None
        graph.reset_log()

        applied = rec.apply(report, snapshot)
    finally:
        clients.close()

    assert sorted(applied.changed_since) == sorted([bob, cy])
    assert applied.actions == {ada: Action.CREATED}
    assert [r.json()["userPrincipalName"] for r in graph.requests if r.method == "POST"] == [
        f"ada.lovelace@{DOMAIN}"
    ]


def test_a_leaver_and_a_rehire_sharing_one_account_are_both_conflicts(
    lucca: LuccaSandbox, graph: GraphSandbox, storage: Storage, environ: dict[str, str]
) -> None:
    """A leaver (last day 5 days ago) and an active employee with the same email match one
    account: neither is linked, no disable is scheduled on it, both are named."""
    leaver = lucca.add_employee("Karim", "Leroy", f"karim.leroy@{DOMAIN}", end=day(-5))
    rehire = lucca.add_employee("Karim", "Leroy", f"karim.leroy@{DOMAIN}", start=day(-2))
    account = graph.add_user(
        userPrincipalName=f"karim.leroy@{DOMAIN}", mail=f"karim.leroy@{DOMAIN}"
    )
    graph.reset_log()

    code, text, _ = run_cli(environ, "reconcile", "--apply", "--json")

    report = json.loads(text)
    assert code == 1
    assert verdicts(report) == {leaver: "conflict", rehire: "conflict"}
    assert f"would also be linked to employee {rehire}" in str(finding(report, leaver)["message"])
    assert report["applied"]["actions"] == {}
    assert writes(graph) == []
    assert Links(storage).employee_of(str(account["id"])) is None
    assert ScheduleStore(storage).upcoming(leaver) == []


def test_an_action_given_up_is_not_a_difference_every_night(
    lucca: LuccaSandbox, graph: GraphSandbox, storage: Storage, environ: dict[str, str]
) -> None:
    """An upcoming hire's enable, given up after failed attempts (left for an operator): the
    next reconciliation finds the employee in step, hands nobody to the sync."""
    nina = lucca.add_employee("Nina", "Lambert", f"nina.lambert@{DOMAIN}", start=day(10))
    assert run_cli(environ, "reconcile", "--apply")[0] == 0
    schedule = ScheduleStore(storage)
    [enable] = schedule.upcoming(nina)
    schedule.give_up(enable)

    code, text, _ = run_cli(environ, "reconcile", "--json")

    report = json.loads(text)
    assert (code, report["to_apply"]) == (0, 0)
    assert finding(report, nina)["verdict"] == "in step"
    assert finding(report, nina)["schedule_differs"] is False


def test_employments_are_read_a_hundred_employees_a_request(
    lucca: LuccaSandbox, graph: GraphSandbox, storage: Storage, environ: dict[str, str]
) -> None:
    """Fixed-term, upcoming and recent leavers need their employments: one request for all of
    them, filtered by employee ids; permanent employees need none."""
    for n in range(4):
        lucca.add_employee(f"Perm{n}", "Test", f"perm{n}@{DOMAIN}")
    special = [
        lucca.add_employee("Fix", "Term", f"fix.term@{DOMAIN}", end=day(30)),
        lucca.add_employee("Up", "Coming", f"up.coming@{DOMAIN}", start=day(5)),
        lucca.add_employee("Just", "Left", f"just.left@{DOMAIN}", end=day(-3)),
    ]
    lucca.requests.clear()

    code, _, err = run_cli(environ, "reconcile")

    assert code == 0, err
    reads = [r for r in lucca.requests if r.path == "/lucca-api/employments"]
    assert len(reads) == 1
    assert set(str(reads[0].param("employee.id")).split(",")) == set(special)
    assert not [r for r in lucca.requests if r.path.startswith("/lucca-api/employments/")]


def test_a_leaver_older_than_the_window_with_an_enabled_account_is_reported_only(
    lucca: LuccaSandbox, graph: GraphSandbox, storage: Storage, environ: dict[str, str]
) -> None:
    """Marc left a year ago and his account is enabled: named for a person, never acted on."""
    marc = lucca.add_employee(
        "Marc", "Simon", f"marc.simon@{DOMAIN}", start="2023-01-01", end=day(-400)
    )
    graph.add_user(userPrincipalName=f"marc.simon@{DOMAIN}", mail=f"marc.simon@{DOMAIN}")
    graph.reset_log()

    code, out, _ = run_cli(environ, "reconcile", "--apply")

    assert code == 1
    assert "Left long ago, account still enabled (not acted on): 1" in out
    assert f"  {marc}  Marc Simon <marc.simon@{DOMAIN}> [deactivated]" in out
    assert "more than RECONCILE_LEFT_DAYS (30) days ago" in out
    assert writes(graph) == []
    assert Links(storage).of_employee(marc) is None


def test_one_employee_with_bad_data_is_not_planned_and_the_rest_is(
    lucca: LuccaSandbox, graph: GraphSandbox, storage: Storage, environ: dict[str, str]
) -> None:
    """LEAVER_TIME_ZONE=establishment and an establishment whose time zone is not one: that
    employee is "not planned" with the reason; the other is planned and created."""
    paris = lucca.add_establishment("Paris", "Europe/Paris")
    bad = lucca.add_establishment("Atlantis", "Atlantis/Capital")
    lost = lucca.add_employee("Lost", "Zone", f"lost.zone@{DOMAIN}", establishment_id=bad)
    fine = lucca.add_employee("Fine", "Zone", f"fine.zone@{DOMAIN}", establishment_id=paris)

    code, text, _ = run_cli(
        environ | {"LEAVER_TIME_ZONE": "establishment"}, "reconcile", "--apply", "--json"
    )

    report = json.loads(text)
    assert code == 1
    assert verdicts(report) == {lost: "not planned", fine: "to create"}
    assert "ZoneInfoNotFoundError" in str(finding(report, lost)["message"])
    assert report["applied"]["actions"] == {fine: "created"}


def test_an_old_leavers_address_now_someone_elses_is_not_reported(
    lucca: LuccaSandbox, graph: GraphSandbox, storage: Storage, environ: dict[str, str]
) -> None:
    """Marc left a year ago; his address now belongs to Marc the rehire, whose account is
    linked: the old leaver is not reported against the rehire's account."""
    lucca.add_employee("Marc", "Simon", f"marc.simon@{DOMAIN}", start="2023-01-01", end=day(-400))
    rehire = lucca.add_employee("Marc", "Simon", f"marc.simon@{DOMAIN}", start=day(-30))
    assert run_cli(environ, "reconcile", "--apply")[0] == 0
    assert Links(storage).of_employee(rehire) is not None

    code, out, _ = run_cli(environ, "reconcile")

    assert code == 0
    assert "Left long ago" not in out


ESCAPES = ("\x1b", "\x9b", "\x07", "\x00")


def test_control_characters_in_names_never_reach_the_terminal(
    lucca: LuccaSandbox, environ: dict[str, str]
) -> None:
    """A Lucca name holding `ESC[31m` and CSI (0x9b) is printed without them, table and JSON."""
    lucca.add_employee("Eve\x1b[31m", "Red\x9b2J\x07", f"eve.red@{DOMAIN}")

    code, out, err = run_cli(environ, "reconcile")
    _, text, _ = run_cli(environ, "reconcile", "--json")

    assert code == 0, err
    assert "Eve[31m Red2J" in out
    for shown in (out, err, text):
        assert not any(c in shown for c in ESCAPES)
    assert json.loads(text)["findings"]
