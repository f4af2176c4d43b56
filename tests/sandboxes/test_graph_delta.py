"""The Graph sandbox's users delta query, driven by the real msgraph-sdk over loopback HTTP."""

from __future__ import annotations

from typing import Any

from kiota_abstractions.base_request_configuration import RequestConfiguration
from msgraph import GraphServiceClient
from msgraph.generated.users.delta.delta_request_builder import DeltaRequestBuilder

from tests.sandboxes.graph import GraphSandbox
from tests.sandboxes.graph_delta import DELTA_PAGE_SIZE
from tests.sandboxes.test_graph_sandbox import call

Query = DeltaRequestBuilder.DeltaRequestBuilderGetQueryParameters


def delta_round(graph: GraphSandbox, link: str | None) -> tuple[list[dict[str, Any]], str, int]:
    """One round from `link` (None: a new one with $select and the manager expanded): the items
    as plain dicts, the delta link, and the pages read."""

    async def scenario(client: GraphServiceClient) -> tuple[list[dict[str, Any]], str, int]:
        if link is None:
            query = Query(select=["id", "mail", "jobTitle"], expand=["manager"])
            page = await client.users.delta.get(RequestConfiguration(query_parameters=query))
        else:
            page = await client.users.delta.with_url(link).get()
        items: list[dict[str, Any]] = []
        pages = 1
        while True:
            assert page is not None
            for user in page.value or []:
                extra = dict(user.additional_data)
                item = {"id": user.id, "mail": user.mail, "jobTitle": user.job_title, **extra}
                items.append(item)
            if page.odata_delta_link:
                return items, page.odata_delta_link, pages
            assert page.odata_next_link
            page = await client.users.delta.with_url(page.odata_next_link).get()
            pages += 1

    return call(graph, scenario)


def test_a_round_reads_everyone_then_the_delta_link_only_what_changed(graph: GraphSandbox) -> None:
    """The first round pages through every user with $select and `manager@delta`; following the
    delta link later gives only the users changed, deleted (`@removed`) or whose manager changed."""
    users = [
        graph.add_user(mail=f"u{n}@acme.fr", jobTitle="Clerk") for n in range(DELTA_PAGE_SIZE + 5)
    ]
    boss, kept, edited, gone = users[0]["id"], users[1]["id"], users[2]["id"], users[3]["id"]
    graph.set_manager(kept, boss)
    graph.reset_log()

    first, link, pages = delta_round(graph, None)

    assert pages == 2 and len(first) == len(users)
    assert {i["id"] for i in first} == {u["id"] for u in users}
    [kept_item] = [i for i in first if i["id"] == kept]
    assert [str(m["id"]) for m in kept_item["manager@delta"]] == [boss]  # the SDK parses a UUID
    assert "$deltatoken" in link

    quiet, link, _ = delta_round(graph, link)
    assert quiet == []

    graph.edit_user(edited, jobTitle="Manager")
    graph.delete_user(gone)
    graph.set_manager(kept, None)
    changes, _, pages = delta_round(graph, link)

    assert pages == 1
    by_id = {i["id"]: i for i in changes}
    assert set(by_id) == {edited, gone, kept}
    assert by_id[edited]["jobTitle"] == "Manager" and by_id[edited]["mail"] == "u2@acme.fr"
    assert "@removed" in by_id[gone]
    [removed] = by_id[kept]["manager@delta"]
    assert str(removed["id"]) == boss and "@removed" in removed
    assert [r.path for r in graph.requests] == ["/v1.0/users/delta()"] * 4
