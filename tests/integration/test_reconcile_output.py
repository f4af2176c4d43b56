"""`python -m connector reconcile`'s output for a large population: the summary first and one
line per employee in its section, `--csv FILE` (one row per employee), and the progress of the
long Lucca read with its total and the time left. Real clients, sandboxes, Azurite."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import pytest

from connector.cli.reconcile_output import time_left
from connector.storage.tables import Storage
from tests.conftest import run_cli
from tests.integration.test_reconcile import DOMAIN, Terminal, go_live
from tests.sandboxes.graph import GraphSandbox
from tests.sandboxes.lucca import LuccaSandbox

pytestmark = pytest.mark.azurite


def rows(path: Path) -> dict[str, dict[str, str]]:
    """The CSV's rows by employee id (the file starts with a BOM, for Excel)."""
    text = path.read_text(encoding="utf-8-sig")
    return {row["employee_id"]: row for row in csv.DictReader(io.StringIO(text))}


def test_csv_has_one_row_per_employee_with_the_verdict_and_the_reason(
    lucca: LuccaSandbox,
    graph: GraphSandbox,
    storage: Storage,
    environ: dict[str, str],
    tmp_path: Path,
) -> None:
    """`--csv FILE`: a header, then a row for every employee reconciled (in step too) and one
    per unknown anchor: id, name, email, status, action, reason, Entra object id, matched by,
    changes, candidates."""
    t = go_live(lucca, graph, storage)
    path = tmp_path / "plan.csv"

    code, out, err = run_cli(environ, "reconcile", "--csv", str(path))

    assert code == 1, err
    assert f"CSV: {path}" in out
    assert path.read_bytes().startswith(b"\xef\xbb\xbf")
    header = path.read_text(encoding="utf-8-sig").splitlines()[0]
    assert header.split(",")[:7] == [
        "employee_id",
        "name",
        "email",
        "status",
        "action",
        "reason",
        "entra_object_id",
    ]
    found = rows(path)
    assert set(found) == {
        t.matched,
        t.new,
        *t.elsewhere,
        t.two,
        t.anchored_twice,
        t.no_email,
        t.taken,
        t.holder,
        t.left,
        t.left_no_account,
        t.upcoming,
        "99999",
    }
    alice = found[t.matched]
    [account] = [u for u in graph.users if u["userPrincipalName"] == f"alice.martin@{DOMAIN}"]
    assert (alice["name"], alice["email"], alice["status"]) == (
        "Alice Martin",
        f"alice.martin@{DOMAIN}",
        "active",
    )
    assert (alice["action"], alice["entra_object_id"], alice["matched_by"]) == (
        "to link",
        account["id"],
        "mail",
    )
    assert alice["changes"] == (
        f"department: (empty) → General; jobTitle: Accountant → CFO; employeeId: (empty) → "
        f"lucca-{t.matched}"
    )
    assert alice["to_apply"] == "yes"
    hugo = found[t.no_email]
    assert (hugo["action"], hugo["email"], hugo["to_apply"]) == ("cannot be created", "", "no")
    assert "email" in hugo["reason"].lower()
    fanny = found[t.two]
    assert fanny["action"] == "likely duplicate"
    assert fanny["candidates"] == f"fblanc@{DOMAIN}; fanny.b@{DOMAIN} (disabled)"
    assert found[t.holder]["action"] == "in step"
    assert found[t.holder]["entra_object_id"] == t.taken_account["id"]
    unknown = found["99999"]
    assert (unknown["action"], unknown["entra_object_id"]) == ("unknown anchor", t.unknown["id"])


def test_csv_cells_never_start_a_spreadsheet_formula(
    lucca: LuccaSandbox, environ: dict[str, str], tmp_path: Path
) -> None:
    """A Lucca name starting with `=`, `+`, `-` or `@` is written as text (a leading
    apostrophe), so a spreadsheet never runs it; control characters are dropped."""
    evil = lucca.add_employee('=HYPERLINK("http://x")', "-2+3\x1b[31m", f"eve@{DOMAIN}")
    path = tmp_path / "plan.csv"

    run_cli(environ, "reconcile", "--csv", str(path))

    name = rows(path)[evil]["name"]
    assert name == '\'=HYPERLINK("http://x") -2+3[31m'


def test_summary_first_then_one_line_per_employee_by_section(
    lucca: LuccaSandbox, graph: GraphSandbox, storage: Storage, environ: dict[str, str]
) -> None:
    """The counts of every section come before any employee; then each section lists its
    employees one line each (the change, the candidates or the reason on that line)."""
    t = go_live(lucca, graph, storage)

    code, out, _ = run_cli(environ, "reconcile")

    assert code == 1
    lines = out.splitlines()
    first_employee = next(i for i, line in enumerate(lines) if re.match(r"  \d+  ", line))
    summary = "\n".join(lines[:first_employee])
    for counted in (
        "Conflicts (nothing is done; resolve them in Entra): 2",
        "Likely duplicates (never created by the reconciliation): 4",
        "Cannot be created: 1",
        "To create: 2",
        "To link (an existing account, matched by a key): 2",
        "Entra accounts with an anchor Lucca does not know: 1",
        "Dry run: nothing was written. `--apply` would hand 4 employees to the sync.",
    ):
        assert counted in summary
    per_employee = [line for line in lines if re.match(rf"  {t.matched}  ", line)]
    assert per_employee == [
        f"  {t.matched}  Alice Martin <alice.martin@{DOMAIN}> [active]  matched by mail: "
        f"department: (empty) → General; jobTitle: Accountant → CFO; employeeId: (empty) → "
        f"lucca-{t.matched}"
    ]
    [fanny] = [line for line in lines if line.startswith(f"  {t.two}  ")]
    assert fanny.endswith(f"candidates fblanc@{DOMAIN}, fanny.b@{DOMAIN} (disabled)")
    assert not any(line.startswith("      ") for line in lines)  # no second line per employee


def test_a_long_section_is_cut_on_the_terminal_and_whole_in_the_csv(
    lucca: LuccaSandbox, environ: dict[str, str], tmp_path: Path
) -> None:
    """Thirty employees to create: the terminal lists twenty and says how many more; the CSV
    has all thirty."""
    for n in range(30):
        lucca.add_employee(f"P{n}", "Test", f"p{n}.test@{DOMAIN}")
    path = tmp_path / "plan.csv"

    code, out, _ = run_cli(environ, "reconcile", "--csv", str(path))

    assert code == 0
    assert "To create: 30" in out
    assert len([line for line in out.splitlines() if re.match(r"  \d+  P\d+ Test", line)]) == 20
    assert "  … and 10 more (all of them in the CSV)" in out
    assert len(rows(path)) == 30


def test_the_lucca_read_shows_its_total_and_the_time_left(
    lucca: LuccaSandbox, graph: GraphSandbox, environ: dict[str, str]
) -> None:
    """150 employees, two pages: after the first, the bar shows 100/150 and the time left at
    the limiter's pace (LUCCA_MAX_RPM in LUCCA_RATE_WINDOW_SECONDS); it ends at 150/150."""
    from connector.cli import main as cli  # noqa: PLC0415

    for n in range(150):
        lucca.add_employee(f"P{n}", "Test", f"p{n}.test@{DOMAIN}")
    err = Terminal()

    cli.main(["reconcile"], environ=environ | {"LUCCA_MAX_RPM": "2"}, out=io.StringIO(), err=err)

    shown = err.getvalue()
    assert "100/150, about 1 s left" in shown
    assert f"reading Lucca  [{'#' * 30}] 150/150" in shown


@pytest.mark.parametrize(
    ("done", "total", "seconds_per_request", "said"),
    [
        (100, 150, 0.5, "about 1 s left"),
        (100, 5000, 2.0, "about 1 min 38 s left"),
        (0, 5000, 2.0, "about 1 min 40 s left"),
        (0, 50_000, 2.0, "about 17 min left"),
        (5000, 5000, 2.0, ""),
        (10, 0, 2.0, ""),
    ],
)
def test_time_left_at_the_limiters_pace(
    done: int, total: int, seconds_per_request: float, said: str
) -> None:
    """Pages of 100 still to read, one request each, at the limiter's pace."""
    assert time_left(done, total, seconds_per_request) == said


def test_a_csv_path_that_cannot_be_written_fails_before_reading_lucca(
    lucca: LuccaSandbox, environ: dict[str, str], tmp_path: Path
) -> None:
    """`--csv` into a missing folder: exit 2 with the path named, and no request to Lucca."""
    lucca.requests.clear()
    path = tmp_path / "missing" / "plan.csv"

    code, out, err = run_cli(environ, "reconcile", "--csv", str(path))

    assert (code, out) == (2, "")
    assert f"--csv {path}: cannot be written" in err
    assert lucca.requests == []
