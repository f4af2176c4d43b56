"""GraphDirectory and the mapping's nested and collection targets, against the Graph sandbox:
the connector names them flat (`employeeOrgData.costCenter`), Graph takes and gives objects."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from connector.domain.mapping import graph_properties
from connector.entra.directory import GraphDirectory
from tests.integration.test_directory import PASSWORD, new_user, sent
from tests.sandboxes.graph import GraphSandbox

EXTENSION = "extension_0123456789abcdef0123456789abcdef_costCode"
TARGETS = {
    "businessPhones": True,
    "mobilePhone": True,
    "employeeOrgData.costCenter": True,
    "onPremisesExtensionAttributes.extensionAttribute3": True,
    "onPremisesExtensionAttributes.extensionAttribute7": True,
    EXTENSION: True,
}


@pytest.fixture
def directory(graph: GraphSandbox) -> Iterator[GraphDirectory]:
    """A directory given the table's rows and the file's nested targets (no division row)."""
    graph.register_extension(EXTENSION)
    made = GraphDirectory(
        f"{graph.base_url}/v1.0", properties={**graph_properties(), **TARGETS}, max_retries=0
    )
    yield made
    made.close()


def test_select_names_each_object_once_and_reads_members_flat(
    graph: GraphSandbox, directory: GraphDirectory
) -> None:
    """`$select` carries employeeOrgData and onPremisesExtensionAttributes once each; a read
    gives every member by its flat name, the division too (a PATCH must send it back)."""
    user = graph.add_user(
        userPrincipalName="ana@acme.fr",
        businessPhones=["+33 1 23 45 67 89"],
        mobilePhone="+33 6 12 34 56 78",
        employeeOrgData={"division": "R&D", "costCenter": "CC-100"},
        onPremisesExtensionAttributes={"extensionAttribute3": "E001"},
        **{EXTENSION: "X-1"},
    )

    read = directory.get_user(user["id"])

    select = graph.requests[-1].param("$select") or ""
    assert select.split(",").count("employeeOrgData") == 1
    assert select.split(",").count("onPremisesExtensionAttributes") == 1
    assert "." not in select
    assert read is not None
    assert read.graph_value("businessPhones") == "+33 1 23 45 67 89"
    assert read.graph_value("mobilePhone") == "+33 6 12 34 56 78"
    assert read.graph_value("employeeOrgData.costCenter") == "CC-100"
    assert read.graph_value("employeeOrgData.division") == "R&D"
    assert read.graph_value("onPremisesExtensionAttributes.extensionAttribute3") == "E001"
    assert read.graph_value("onPremisesExtensionAttributes.extensionAttribute7") is None
    assert read.graph_value(EXTENSION) == "X-1"


def test_create_sends_graph_shapes_and_reads_back_the_same(
    graph: GraphSandbox, directory: GraphDirectory
) -> None:
    """A creation nests the members and makes the phone a collection; the user it returns and
    a later read hold the same flat values."""
    flat: dict[str, Any] = {
        "businessPhones": "+33 1 23 45 67 89",
        "mobilePhone": "+33 6 12 34 56 78",
        "employeeOrgData.costCenter": "CC-100",
        "onPremisesExtensionAttributes.extensionAttribute3": "E001",
        EXTENSION: "X-1",
    }

    created = directory.create_user(new_user(**flat), PASSWORD)

    body = sent(graph, "POST", "/v1.0/users")
    assert body["businessPhones"] == ["+33 1 23 45 67 89"]
    assert body["employeeOrgData"] == {"costCenter": "CC-100"}
    assert body["onPremisesExtensionAttributes"] == {"extensionAttribute3": "E001"}
    assert body[EXTENSION] == "X-1"
    assert not any("." in key for key in body)
    again = directory.get_user(created.id)
    assert again is not None
    for prop, value in flat.items():
        assert created.graph_value(prop) == value, prop
        assert again.graph_value(prop) == value, prop


def test_update_nests_members_and_clears_the_phone_with_an_empty_list(
    graph: GraphSandbox, directory: GraphDirectory
) -> None:
    """A PATCH nests what it is given (employeeOrgData with both members, as the sync sends
    it), clears businessPhones with [] and an extension attribute with null, and leaves the
    other extension attributes alone."""
    user = graph.add_user(
        userPrincipalName="ana@acme.fr",
        businessPhones=["+33 1 23 45 67 89"],
        employeeOrgData={"division": "R&D", "costCenter": "CC-100"},
        onPremisesExtensionAttributes={"extensionAttribute1": "kept", "extensionAttribute3": "E"},
    )

    directory.update_user(
        user["id"],
        {
            "businessPhones": None,
            "employeeOrgData.costCenter": "CC-200",
            "employeeOrgData.division": "R&D",
            "onPremisesExtensionAttributes.extensionAttribute3": None,
        },
    )

    body = sent(graph, "PATCH", f"/v1.0/users/{user['id']}")
    assert body == {
        "businessPhones": [],
        "employeeOrgData": {"costCenter": "CC-200", "division": "R&D"},
        "onPremisesExtensionAttributes": {"extensionAttribute3": None},
    }
    stored = graph.user(user["id"])
    assert stored["employeeOrgData"] == {"division": "R&D", "costCenter": "CC-200"}
    members = stored["onPremisesExtensionAttributes"]
    assert (members["extensionAttribute1"], members["extensionAttribute3"]) == ("kept", None)
    assert stored["businessPhones"] == []


def test_an_unknown_flat_name_is_refused_before_any_request(graph: GraphSandbox) -> None:
    """A member of an object the directory was not given is not written (ValueError)."""
    with GraphDirectory(f"{graph.base_url}/v1.0", properties=graph_properties()) as directory:
        before = len(graph.requests)
        with pytest.raises(ValueError, match=r"employeeOrgData\.division"):
            directory.update_user("x", {"employeeOrgData.division": "R&D"})
        assert len(graph.requests) == before
