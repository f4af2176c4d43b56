"""The administrator's mapping file end to end: signed webhook → queue → sync_employee → Graph,
with SYNC_MAPPING_FILE's rows (constants, lookups, extension attributes, employeeOrgData,
phones) read back from the Graph sandbox as Graph stores them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from connector.domain.entries import Action
from tests.e2e.conftest import DOMAIN, World
from tests.e2e.test_sync import change, hire, patches

pytestmark = pytest.mark.azurite

ROWS = [
    {"target": "employeeType", "constant": "Employee"},
    {
        "target": "employeeOrgData.costCenter",
        "source": "legalEntity.name",
        "transforms": ["upper"],
        "lookup": {"ACME SAS": "CC-100", "ACME SUISSE SA": "CC-200"},
        "default": "CC-000",
    },
    {"target": "employeeOrgData.division", "constant": "Engineering"},
    {"target": "onPremisesExtensionAttributes.extensionAttribute3", "source": "employeeNumber"},
    {"target": "businessPhones", "source": "phoneNumber"},
    {"target": "mobilePhone", "source": "phoneNumber"},
]


def mapping_file(tmp_path: Path, rows: list[dict[str, Any]]) -> str:
    """A mapping file holding `rows`; its path for SYNC_MAPPING_FILE."""
    path = tmp_path / "mapping.json"
    path.write_text(json.dumps({"rows": rows}), encoding="utf-8")
    return str(path)


def test_a_mapping_file_writes_exactly_its_values_and_a_resync_sends_no_patch(
    make_world: Any, tmp_path: Path
) -> None:
    """A hire carries the constant, the looked-up cost centre, the extension attribute, the
    phones as Graph's shapes; a second sync with nothing changed writes nothing."""
    world: World = make_world(SYNC_MAPPING_FILE=mapping_file(tmp_path, ROWS))
    entity = world.lucca.add_legal_entity("Acme SAS", country_code="FRA")
    office = world.lucca.add_establishment("Paris", legal_entity_id=entity)
    employee_id = hire(
        world,
        "Inès",
        "Roux",
        f"ines.roux@{DOMAIN}",
        establishment_id=office,
        employee_number="E-042",
        phone_number="+33612345678",
    )

    account = world.account_of(employee_id)
    assert account["employeeType"] == "Employee"
    assert account["employeeOrgData"] == {"division": "Engineering", "costCenter": "CC-100"}
    members = account["onPremisesExtensionAttributes"]
    assert {k: v for k, v in members.items() if v is not None} == {"extensionAttribute3": "E-042"}
    assert account["businessPhones"] == ["+33612345678"]
    assert account["mobilePhone"] == "+33612345678"
    reads = [r for r in world.graph.requests if r.method == "GET" and "/users" in r.path]
    assert reads and all("employeeOrgData" in str(r.param("$select")) for r in reads)
    world.graph.reset_log()

    change(world, lambda: world.lucca.update_employee(employee_id, remote_id="R-1"))

    assert world.graph_writes() == 0
    assert patches(world) == []
    assert world.entries(employee_id)[0].action is Action.UNCHANGED


def test_org_data_keeps_its_other_member_and_phones_follow_lucca(
    make_world: Any, tmp_path: Path
) -> None:
    """Only the cost centre is mapped: its change PATCHes employeeOrgData with the division as
    it is in Entra (Graph would clear a member left out); the phone's change and removal
    PATCH businessPhones as a collection of one, then empty."""
    rows = [
        {"target": "employeeOrgData.costCenter", "source": "employeeNumber"},
        {"target": "businessPhones", "source": "phoneNumber"},
    ]
    world: World = make_world(SYNC_MAPPING_FILE=mapping_file(tmp_path, rows))
    employee_id = hire(
        world, "Léa", "Blanc", f"lea.blanc@{DOMAIN}", employee_number="CC-1", phone_number=None
    )
    account = world.account_of(employee_id)
    assert account["employeeOrgData"] == {"division": None, "costCenter": "CC-1"}
    assert not account.get("businessPhones")  # not sent at creation: Graph reads it as []
    world.graph.edit_user(account["id"], employeeOrgData={"division": "R&D", "costCenter": "CC-1"})
    world.graph.reset_log()

    change(
        world,
        lambda: world.lucca.update_employee(
            employee_id, employee_number="CC-2", phone_number="+33612345678"
        ),
    )

    assert patches(world) == [
        {
            "businessPhones": ["+33612345678"],
            "employeeOrgData": {"costCenter": "CC-2", "division": "R&D"},
        }
    ]
    after = world.account_of(employee_id)
    assert after["employeeOrgData"] == {"division": "R&D", "costCenter": "CC-2"}
    assert after["businessPhones"] == ["+33612345678"]
    changes = {(c.attribute, c.old, c.new) for c in world.entries(employee_id)[0].changes}
    assert changes == {
        ("employeeOrgData.costCenter", "CC-1", "CC-2"),
        ("businessPhones", None, "+33612345678"),
    }
    world.graph.reset_log()

    change(world, lambda: world.lucca.update_employee(employee_id, phone_number=None))

    assert patches(world) == [{"businessPhones": []}]
    assert world.account_of(employee_id)["businessPhones"] == []
