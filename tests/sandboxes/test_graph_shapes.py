"""The Graph sandbox's nested objects, phone collection and directory extensions, as Graph
takes and gives them, driven by the real msgraph-sdk over loopback HTTP."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from kiota_abstractions.base_request_configuration import RequestConfiguration
from msgraph import GraphServiceClient
from msgraph.generated.models.employee_org_data import EmployeeOrgData
from msgraph.generated.models.on_premises_extension_attributes import (
    OnPremisesExtensionAttributes,
)
from msgraph.generated.models.user import User
from msgraph.generated.users.item.user_item_request_builder import UserItemRequestBuilder

from tests.sandboxes.graph import GraphSandbox
from tests.sandboxes.test_graph_sandbox import call, new_user, odata_error

ItemQuery = UserItemRequestBuilder.UserItemRequestBuilderGetQueryParameters
EXTENSION = "extension_0123456789abcdef0123456789abcdef_costCode"
SHAPES = ["businessPhones", "mobilePhone", "employeeOrgData", "onPremisesExtensionAttributes"]


def read(graph: GraphSandbox, user_id: str, select: list[str]) -> User:
    """The user read through the SDK with `$select`."""
    config = RequestConfiguration(query_parameters=ItemQuery(select=select))
    got = call(graph, lambda client: client.users.by_user_id(user_id).get(config))
    assert got is not None
    return got


def patch(graph: GraphSandbox, user_id: str, body: dict[str, Any]) -> None:
    """PATCH the user with exactly `body` (wire names, None as null)."""
    call(graph, lambda c: c.users.by_user_id(user_id).patch(User(additional_data=body)))


def test_created_with_every_shape_and_read_back_with_select(graph: GraphSandbox) -> None:
    """A creation carries the phones, employeeOrgData and extension attributes; a read with
    `$select` gives them back in Graph's shapes (every extension attribute member, null ones
    too), and a read without `$select` gives only the default properties."""
    attributes = OnPremisesExtensionAttributes(extension_attribute3="E001")
    body = new_user(
        business_phones=["+33 1 23 45 67 89"],
        mobile_phone="+33 6 12 34 56 78",
        employee_org_data=EmployeeOrgData(division="R&D", cost_center="CC-100"),
        on_premises_extension_attributes=attributes,
    )
    created = call(graph, lambda client: client.users.post(body))
    assert created is not None and created.id is not None

    got = read(graph, created.id, SHAPES)
    raw = httpx.get(
        f"{graph.base_url}/v1.0/users/{created.id}", params={"$select": ",".join(SHAPES)}
    ).json()
    plain = httpx.get(f"{graph.base_url}/v1.0/users/{created.id}").json()

    assert got.business_phones == ["+33 1 23 45 67 89"]
    assert got.mobile_phone == "+33 6 12 34 56 78"
    assert got.employee_org_data is not None
    assert (got.employee_org_data.division, got.employee_org_data.cost_center) == (
        "R&D",
        "CC-100",
    )
    assert got.on_premises_extension_attributes is not None
    assert got.on_premises_extension_attributes.extension_attribute3 == "E001"
    members = raw["onPremisesExtensionAttributes"]
    assert set(members) == {f"extensionAttribute{n}" for n in range(1, 16)}
    assert [k for k, v in members.items() if v is not None] == ["extensionAttribute3"]
    assert "employeeOrgData" not in plain and "onPremisesExtensionAttributes" not in plain
    assert plain["businessPhones"] == ["+33 1 23 45 67 89"]


def test_employee_org_data_is_replaced_whole_and_extension_attributes_merged(
    graph: GraphSandbox,
) -> None:
    """Graph replaces employeeOrgData as a whole (a member left out becomes null) and updates
    only the extension attributes a PATCH names (null clears one)."""
    user = graph.add_user(
        userPrincipalName="ana@acme.fr",
        employeeOrgData={"division": "R&D", "costCenter": "CC-100"},
        onPremisesExtensionAttributes={"extensionAttribute1": "a", "extensionAttribute2": "b"},
    )

    patch(graph, user["id"], {"employeeOrgData": {"costCenter": "CC-200"}})
    patch(
        graph,
        user["id"],
        {
            "onPremisesExtensionAttributes": {
                "extensionAttribute2": None,
                "extensionAttribute9": "z",
            }
        },
    )

    stored = graph.user(user["id"])
    assert stored["employeeOrgData"] == {"division": None, "costCenter": "CC-200"}
    members = stored["onPremisesExtensionAttributes"]
    assert {k: v for k, v in members.items() if v is not None} == {
        "extensionAttribute1": "a",
        "extensionAttribute9": "z",
    }


def test_business_phones_is_a_collection_of_one_and_empty_clears_it(graph: GraphSandbox) -> None:
    """businessPhones takes a list of at most one number; [] clears it."""
    user = graph.add_user(userPrincipalName="ana@acme.fr", businessPhones=["+33 1 00 00 00 00"])

    patch(graph, user["id"], {"businessPhones": ["+33 1 23 45 67 89"]})
    assert graph.user(user["id"])["businessPhones"] == ["+33 1 23 45 67 89"]
    patch(graph, user["id"], {"businessPhones": []})
    assert read(graph, user["id"], ["businessPhones"]).business_phones == []


def test_a_registered_directory_extension_is_written_and_selected(graph: GraphSandbox) -> None:
    """A directory extension property registered on an application is written and read back by
    its name; unset, `$select` leaves it out of the answer, as Graph does."""
    graph.register_extension(EXTENSION)
    user = graph.add_user(userPrincipalName="ana@acme.fr")
    url = f"{graph.base_url}/v1.0/users/{user['id']}"

    unset = httpx.get(url, params={"$select": f"id,{EXTENSION}"}).json()
    patch(graph, user["id"], {EXTENSION: "CC-7"})
    got = read(graph, user["id"], ["id", EXTENSION])

    assert set(unset) == {"@odata.context", "id"}
    assert (got.additional_data or {}).get(EXTENSION) == "CC-7"


@pytest.mark.parametrize(
    ("body", "code", "message_start"),
    [
        pytest.param(
            {"businessPhones": ["+33 1", "+33 2"]},
            "Request_BadRequest",
            "Invalid value specified for property 'businessPhones'",
            id="two-business-phones",
        ),
        pytest.param(
            {"onPremisesExtensionAttributes": {"extensionAttribute16": "x"}},
            "BadRequest",
            "The property 'extensionAttribute16' does not exist on type "
            "'microsoft.graph.onPremisesExtensionAttributes'",
            id="extension-attribute-16",
        ),
        pytest.param(
            {"onPremisesExtensionAttributes": {"extensionAttribute1": "x" * 1025}},
            "Request_BadRequest",
            "Invalid value specified for property 'extensionAttribute1'",
            id="extension-attribute-too-long",
        ),
        pytest.param(
            {"employeeOrgData": {"team": "x"}},
            "BadRequest",
            "The property 'team' does not exist on type 'microsoft.graph.employeeOrgData'",
            id="unknown-org-data-member",
        ),
        pytest.param(
            {EXTENSION: "x"},
            "BadRequest",
            f"The property '{EXTENSION}' does not exist on type 'microsoft.graph.user'",
            id="unregistered-extension",
        ),
        pytest.param(
            {"mobilePhone": "0" * 65},
            "Request_BadRequest",
            "Invalid value specified for property 'mobilePhone'",
            id="long-mobile-phone",
        ),
    ],
)
def test_shape_refusals(
    graph: GraphSandbox, body: dict[str, Any], code: str, message_start: str
) -> None:
    """What Graph refuses in these shapes is refused, with Graph's code, and nothing changes."""
    user = graph.add_user(userPrincipalName="ana@acme.fr", mobilePhone="+33 6")

    async def scenario(client: GraphServiceClient) -> None:
        await client.users.by_user_id(user["id"]).patch(User(additional_data=body))

    error = odata_error(graph, scenario)

    assert error.response_status_code == 400
    assert error.error is not None and error.error.code == code
    assert str(error.error.message).startswith(message_start)
    assert graph.user(user["id"]) == user


def test_extension_attributes_of_a_synced_user_are_read_only(graph: GraphSandbox) -> None:
    """For a user mastered on premises the extension attributes come from AD: a PATCH is
    refused as for any other property."""
    user = graph.add_user(userPrincipalName="ana@acme.fr", onPremisesSyncEnabled=True)

    error = odata_error(
        graph,
        lambda c: c.users.by_user_id(user["id"]).patch(
            User(additional_data={"onPremisesExtensionAttributes": {"extensionAttribute1": "x"}})
        ),
    )

    assert error.response_status_code == 400
    assert str(error.error.message if error.error else "").startswith("Unable to update")
