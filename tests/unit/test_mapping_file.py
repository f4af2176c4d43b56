"""The mapping file: its rows parsed into mapping rows, a bad row named, the transforms."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from connector.domain.mapping import BY_NAME, LuccaView, desired, owned
from connector.domain.mapping_file import SOURCES, MappingFileError, merged, parse_rows
from connector.lucca.models import (
    LuccaDepartment,
    LuccaEmployee,
    LuccaEmployment,
    LuccaEstablishment,
    LuccaJobPosition,
    LuccaLegalEntity,
)


def _view(**employee: Any) -> LuccaView:
    document = {
        "id": "416",
        "givenName": "  Élodie ",
        "familyName": "N'Diaye",
        "email": "elodie@acme.fr",
        "status": "active",
        "employeeNumber": "E-0042",
        "phoneNumber": "+33612345678",
        **employee,
    }
    person = LuccaEmployee.model_validate(document)
    person = person.model_copy(
        update={
            "employment": LuccaEmployment.model_validate(
                {"id": "9", "employee": {"id": "416"}, "start": "2024-01-01",
                 "legalEntity": {"id": "3"}}
            ),
            "job_position": LuccaJobPosition.model_validate(
                {"id": "7", "employee": {"id": "416"}, "employment": {"id": "9"},
                 "jobTitle": "Chemist", "department": {"id": "12"},
                 "businessEstablishment": {"id": "5"}, "startsOn": date(2024, 1, 1)}
            ),
        }
    )  # fmt: skip
    return LuccaView(
        employee=person,
        department=LuccaDepartment.model_validate({"id": "12", "name": "Research"}),
        legal_entity=LuccaLegalEntity.model_validate(
            {"id": "3", "legalName": "ACME SAS", "countryCode": "FRA"}
        ),
        establishment=LuccaEstablishment.model_validate({"id": "5", "name": "Lyon"}),
    )


def _values(*rows: dict[str, Any], **employee: Any) -> dict[str, str | None]:
    return desired(_view(**employee), parse_rows({"rows": list(rows)}))


@pytest.mark.parametrize(
    ("document", "problem"),
    [
        ([], "must be an object with a list 'rows'"),
        ({"rows": {}}, "must be an object with a list 'rows'"),
        ({"rows": [], "other": 1}, "unknown key 'other'"),
        ({"rows": ["x"]}, "row 1: must be an object"),
        ({"rows": [{"source": "id"}]}, "row 1: 'target' is missing"),
        (
            {
                "rows": [
                    {"target": "employeeType", "constant": "x"},
                    {"target": "employeeOrgData.costCenter", "source": "legalEntity.nam"},
                ]
            },
            "row 2 (employeeOrgData.costCenter): unknown source 'legalEntity.nam'",
        ),
        (
            {"rows": [{"target": "employeeId", "source": "id"}]},
            "row 1 (employeeId): employeeId is the connector's anchor lucca-<id>",
        ),
        ({"rows": [{"target": "manager", "source": "id"}]}, "row 1 (manager): "),
        ({"rows": [{"target": "mail", "source": "email"}]}, "row 1 (mail): "),
        (
            {"rows": [{"target": "favouriteColour", "constant": "x"}]},
            "row 1 (favouriteColour): unknown target 'favouriteColour'",
        ),
        (
            {
                "rows": [
                    {
                        "target": "onPremisesExtensionAttributes.extensionAttribute16",
                        "constant": "x",
                    }
                ]
            },
            "unknown target",
        ),
        ({"rows": [{"target": "extension_notahexappid_x", "constant": "x"}]}, "unknown target"),
        (
            {"rows": [{"target": "employeeType", "constant": "x", "source": "id"}]},
            "row 1 (employeeType): give one of 'constant', 'source' or 'join', not several",
        ),
        (
            {"rows": [{"target": "employeeType"}]},
            "row 1 (employeeType): give one of 'constant', 'source' or 'join'",
        ),
        (
            {"rows": [{"target": "employeeType", "source": "id", "transforms": ["shout"]}]},
            "row 1 (employeeType): unknown transform 'shout'",
        ),
        (
            {"rows": [{"target": "employeeType", "source": "id", "colour": "red"}]},
            "row 1 (employeeType): unknown key 'colour'",
        ),
        (
            {"rows": [{"target": "employeeType", "join": ["givenName", "nope"]}]},
            "row 1 (employeeType): unknown source 'nope'",
        ),
        (
            {"rows": [{"target": "employeeType", "join": "givenName"}]},
            "row 1 (employeeType): 'join' must be a list of sources",
        ),
        (
            {"rows": [{"target": "employeeType", "source": "id", "separator": "-"}]},
            "row 1 (employeeType): 'separator' goes with 'join' only",
        ),
        (
            {"rows": [{"target": "employeeType", "source": "id", "lookup": {"a": 1}}]},
            "row 1 (employeeType): 'lookup' must map text to text",
        ),
        (
            {"rows": [{"target": "employeeType", "constant": 3}]},
            "row 1 (employeeType): 'constant' must be text",
        ),
        (
            {
                "rows": [
                    {"target": "employeeType", "constant": "x"},
                    {"target": "employeeType", "constant": "y"},
                ]
            },
            "row 2 (employeeType): the target has another row already (row 1)",
        ),
        (
            {"rows": [{"target": "employeeType", "constant": "x" * 65}]},
            "row 1 (employeeType): the constant is longer than Graph takes (64)",
        ),
    ],
)
def test_a_bad_row_is_named(document: Any, problem: str) -> None:
    """Each malformed file is refused with the row's number and target, and the reason."""
    with pytest.raises(MappingFileError) as caught:
        parse_rows(document)
    assert problem in str(caught.value)


def test_sources_constants_and_targets() -> None:
    """Each kind of source fills its target; the phone goes to businessPhones as one value."""
    values = _values(
        {"target": "employeeType", "constant": "Employee"},
        {"target": "onPremisesExtensionAttributes.extensionAttribute3", "source": "employeeNumber"},
        {"target": "mobilePhone", "source": "phoneNumber"},
        {"target": "businessPhones", "source": "phoneNumber"},
        {"target": "employeeOrgData.division", "source": "department.name"},
        {"target": "employeeOrgData.costCenter", "source": "establishment.id"},
        {"target": "extension_0123456789abcdef0123456789abcdef_badge", "source": "id"},
        {"target": "officeLocation", "source": "legalEntity.id"},
        {"target": "companyName", "source": "jobTitle"},
    )
    assert values == {
        "employeeType": "Employee",
        "onPremisesExtensionAttributes.extensionAttribute3": "E-0042",
        "mobilePhone": "+33612345678",
        "businessPhones": "+33612345678",
        "employeeOrgData.division": "Research",
        "employeeOrgData.costCenter": "5",
        "extension_0123456789abcdef0123456789abcdef_badge": "416",
        "officeLocation": "3",
        "companyName": "Chemist",
    }


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        ({"source": "givenName", "transforms": ["trim"]}, "Élodie"),
        ({"source": "givenName", "transforms": ["upper"]}, "ÉLODIE"),
        ({"source": "familyName", "transforms": ["lower"]}, "n'diaye"),
        ({"join": ["givenName", "familyName"], "separator": "."}, "Élodie.N'Diaye"),
        ({"join": ["givenName", "familyName"], "transforms": ["trim", "upper"]}, "ÉLODIE N'DIAYE"),
        ({"join": ["givenName", "employeeNumber", "familyName"]}, "Élodie E-0042 N'Diaye"),
        ({"source": "legalEntity.name", "lookup": {"ACME SAS": "CC-100"}}, "CC-100"),
        (
            {"source": "legalEntity.name", "lookup": {"Other": "CC-200"}, "default": "CC-000"},
            "CC-000",
        ),
        ({"source": "legalEntity.name", "lookup": {"Other": "CC-200"}}, None),
        ({"source": "phoneNumber", "default": "none"}, "none"),
        (
            {
                "source": "legalEntity.name",
                "transforms": ["lower"],
                "lookup": {"acme sas": "CC-100"},
            },
            "CC-100",
        ),
    ],
)
def test_transforms(row: dict[str, Any], expected: str | None) -> None:
    """trim, upper, lower, a join, a lookup (after the transforms) and a default."""
    no_phone = row.get("default") == "none"
    values = _values(
        {"target": "employeeType", **row}, **({"phoneNumber": None} if no_phone else {})
    )
    assert values["employeeType"] == expected


def test_a_join_skips_empty_fields() -> None:
    """An empty field leaves no double separator."""
    values = _values(
        {"target": "jobTitle", "join": ["givenName", "employeeNumber", "familyName"]},
        employeeNumber=None,
    )
    assert values["jobTitle"] == "Élodie N'Diaye"


def test_a_file_row_replaces_the_built_in_row_and_is_owned() -> None:
    """A file row for a built-in target replaces it; the file's rows are owned besides
    SYNC_ATTRIBUTES, after the built-in rows."""
    rows = parse_rows(
        {"rows": [{"target": "displayName", "join": ["familyName", "givenName"],
                   "separator": ", "},
                  {"target": "mobilePhone", "source": "phoneNumber"}]}
    )  # fmt: skip
    attributes = merged(owned(("surname", "displayName", "employeeId")), rows)
    assert [a.name for a in attributes] == ["surname", "displayName", "employeeId", "mobilePhone"]
    assert desired(_view(), attributes)["displayName"] == "N'Diaye, Élodie"
    assert BY_NAME["displayName"].never_cleared
    assert attributes[1].never_cleared  # Graph's rule for the target stays


def test_needs_follow_the_sources() -> None:
    """A row reading the legal entity needs it from Lucca; a constant needs nothing."""
    rows = parse_rows(
        {"rows": [{"target": "employeeType", "constant": "Employee"},
                  {"target": "employeeOrgData.costCenter", "source": "legalEntity.name"},
                  {"target": "companyName", "join": ["establishment.name", "department.id"]}]}
    )  # fmt: skip
    assert [sorted(r.needs) for r in rows] == [
        [],
        ["legal-entity"],
        ["department", "establishment"],
    ]


def test_values_are_cut_to_graphs_length() -> None:
    """An extension attribute takes 1024 characters, mobilePhone 64."""
    rows = parse_rows(
        {"rows": [{"target": "onPremisesExtensionAttributes.extensionAttribute1",
                   "source": "familyName"},
                  {"target": "mobilePhone", "source": "familyName"}]}
    )  # fmt: skip
    values = desired(_view(familyName="x" * 2000), rows)
    assert len(values["onPremisesExtensionAttributes.extensionAttribute1"] or "") == 1024
    assert len(values["mobilePhone"] or "") == 64


def test_a_bad_file_is_a_refused_setting_naming_the_row(tmp_path: Any) -> None:
    """SYNC_MAPPING_FILE with a bad row stops the settings, naming the setting and the row."""
    from connector.runtime.settings import SettingsError, load_settings  # noqa: PLC0415
    from tests.unit.test_settings import VALID  # noqa: PLC0415

    bad = tmp_path / "mapping.json"
    bad.write_text(
        '{"rows": [{"target": "employeeType", "constant": "E"},'
        ' {"target": "mobilePhone", "source": "phoneNumber"},'
        ' {"target": "employeeOrgData.costCenter", "source": "legalEntity.nam"}]}'
    )
    with pytest.raises(SettingsError) as caught:
        load_settings({**VALID, "SYNC_MAPPING_FILE": str(bad)})
    assert str(caught.value) == (
        "setting SYNC_MAPPING_FILE is malformed: row 3 (employeeOrgData.costCenter): unknown "
        "source 'legalEntity.nam': choose among " + ", ".join(SOURCES)
    )
    example = load_settings({**VALID, "SYNC_MAPPING_FILE": "docs/mapping.example.json"})
    assert [a.name for a in example.mapping_rows][:2] == [
        "employeeType",
        "onPremisesExtensionAttributes.extensionAttribute3",
    ]
