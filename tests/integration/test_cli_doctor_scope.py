"""`python -m connector doctor`'s SYNC_SCOPE line: how many employees the scope keeps, read
from the Lucca sandbox over HTTP (issue 16)."""

from __future__ import annotations

import pytest

from tests.integration.test_cli_doctor import NEEDED, by_name, doctor
from tests.sandboxes.graph import GraphSandbox
from tests.sandboxes.lucca import LuccaSandbox

pytestmark = pytest.mark.azurite
DOMAIN = "acme.fr"


def test_without_a_scope_everyone_and_no_request(
    lucca: LuccaSandbox, graph: GraphSandbox, environ: dict[str, str]
) -> None:
    """SYNC_SCOPE empty: "keeps everyone", and not one Lucca request more for it."""
    lucca.add_employee("Ada", "Martin", f"ada.martin@{DOMAIN}")
    lucca.requests.clear()

    _, _, _, checks = doctor(environ, NEEDED)

    line = by_name(checks)["sync scope"]
    assert line["status"] == "PASS"
    assert "SYNC_SCOPE is empty: it keeps everyone" in line["detail"]
    assert lucca.count("GET", r"^/lucca-api/employees$") == 1  # the API check's own


def test_a_scope_counts_what_it_keeps(
    lucca: LuccaSandbox, graph: GraphSandbox, environ: dict[str, str]
) -> None:
    """`establishment = <Paris>` with two employees in Paris and one in Lyon (and a leaver in
    Paris, not counted): "SYNC_SCOPE keeps 2 of 3 employees"; exit 0."""
    paris = lucca.add_establishment("Paris")
    lyon = lucca.add_establishment("Lyon")
    for n in range(2):
        lucca.add_employee(f"P{n}", "Paris", f"p{n}.paris@{DOMAIN}", establishment_id=paris)
    lucca.add_employee("Lou", "Lyon", f"lou.lyon@{DOMAIN}", establishment_id=lyon)
    lucca.add_employee(
        "Old",
        "Paris",
        f"old.paris@{DOMAIN}",
        establishment_id=paris,
        start="2019-01-01",
        end="2020-01-31",
    )

    code, _, err, checks = doctor(environ | {"SYNC_SCOPE": f"establishment = {paris}"}, NEEDED)

    assert (code, err) == (0, "")
    line = by_name(checks)["sync scope"]
    assert line["status"] == "PASS"
    assert line["detail"].startswith("SYNC_SCOPE keeps 2 of 3 employees (active and upcoming)")


def test_a_scope_that_keeps_nobody_is_a_warning(
    lucca: LuccaSandbox, graph: GraphSandbox, environ: dict[str, str]
) -> None:
    """A scope that keeps no one (an id mistyped, say) is a WARN with the fix."""
    lucca.add_employee("Ada", "Martin", f"ada.martin@{DOMAIN}")

    _, _, _, checks = doctor(environ | {"SYNC_SCOPE": "legalEntity = 999"}, NEEDED)

    line = by_name(checks)["sync scope"]
    assert line["status"] == "WARN"
    assert line["detail"].startswith("SYNC_SCOPE keeps 0 of 1 employee ")
    assert "SYNC_SCOPE" in line["fix"]


def test_text_output_names_the_count(
    lucca: LuccaSandbox, graph: GraphSandbox, environ: dict[str, str]
) -> None:
    """The text report's line: `PASS  sync scope: SYNC_SCOPE keeps 1 of 2 employees …`."""
    from tests.conftest import run_cli  # noqa: PLC0415

    kept = lucca.add_employee("Ada", "Martin", f"ada.martin@{DOMAIN}")
    lucca.add_employee("Bob", "Ray", f"bob.ray@{DOMAIN}")
    lucca.set_extension(kept, "e_site", "Lyon")

    _, out, _ = run_cli(environ | {"SYNC_SCOPE": "extension.e_site = Lyon"}, "doctor")

    assert "  sync scope: SYNC_SCOPE keeps 1 of 2 employees (active and upcoming" in out
