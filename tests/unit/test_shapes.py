"""The flat names of nested and collection user properties, and Graph's shapes for them."""

from __future__ import annotations

import pytest
from msgraph.generated.models.employee_org_data import EmployeeOrgData
from msgraph.generated.models.on_premises_extension_attributes import (
    OnPremisesExtensionAttributes,
)

from connector.entra import shapes


def test_a_write_of_one_org_data_member_carries_the_other_as_it_is() -> None:
    """Graph replaces employeeOrgData whole: the member not changed is sent as read."""
    now = {"employeeOrgData.division": "R&D", "employeeOrgData.costCenter": "CC-1"}

    sent = shapes.completed({"employeeOrgData.costCenter": "CC-2", "jobTitle": "Buyer"}, now.get)

    assert sent == {
        "employeeOrgData.costCenter": "CC-2",
        "employeeOrgData.division": "R&D",
        "jobTitle": "Buyer",
    }
    assert shapes.completed({"jobTitle": "Buyer"}, now.get) == {"jobTitle": "Buyer"}


def test_extension_attributes_are_sent_member_by_member() -> None:
    """Graph merges the extension attributes: nothing is added to a PATCH of one."""
    change = {"onPremisesExtensionAttributes.extensionAttribute3": None}

    assert shapes.completed(change, lambda name: "kept") == change
    assert shapes.wire(change) == {"onPremisesExtensionAttributes": {"extensionAttribute3": None}}


@pytest.mark.parametrize(
    ("flat", "body"),
    [
        ({"businessPhones": "+33 1"}, {"businessPhones": ["+33 1"]}),
        ({"businessPhones": None}, {"businessPhones": []}),
        ({"mobilePhone": None}, {"mobilePhone": None}),
        (
            {"employeeOrgData.division": "R&D", "employeeOrgData.costCenter": None},
            {"employeeOrgData": {"division": "R&D", "costCenter": None}},
        ),
        ({"jobTitle": "Buyer"}, {"jobTitle": "Buyer"}),
    ],
)
def test_wire_shapes(flat: dict[str, object], body: dict[str, object]) -> None:
    """Members are nested in their object; the phone collection holds the one value."""
    assert shapes.wire(flat) == body


def test_select_and_siblings() -> None:
    """`$select` names an object once; a mapped org data member brings its sibling, writable."""
    props = {
        "jobTitle": True,
        "employeeOrgData.costCenter": True,
        "onPremisesExtensionAttributes.extensionAttribute1": True,
        "onPremisesExtensionAttributes.extensionAttribute2": True,
    }

    assert shapes.selected(props) == (
        "jobTitle",
        "employeeOrgData",
        "onPremisesExtensionAttributes",
    )
    assert shapes.with_siblings(props) == {**props, "employeeOrgData.division": True}
    assert shapes.with_siblings({"jobTitle": True}) == {"jobTitle": True}


def test_read_members_and_the_first_phone() -> None:
    """A member is read from the SDK's object or a dict; the phone is the first of the list."""
    values: dict[str, object] = {
        "employeeOrgData": EmployeeOrgData(cost_center="CC-1"),
        "onPremisesExtensionAttributes": OnPremisesExtensionAttributes(extension_attribute12="x"),
        "businessPhones": ["+33 1", "+33 2"],
        "mobilePhone": None,
    }

    def read(prop: str) -> object:
        return shapes.read(values.get, prop)

    assert read("employeeOrgData.costCenter") == "CC-1"
    assert read("employeeOrgData.division") is None
    assert read("onPremisesExtensionAttributes.extensionAttribute12") == "x"
    assert read("businessPhones") == "+33 1"
    assert read("mobilePhone") is None
    values["businessPhones"] = []
    assert read("businessPhones") is None
