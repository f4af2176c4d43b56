"""Employees read a page at a time across invocations (the nightly reconciliation's slices)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from connector.lucca.answers import items

if TYPE_CHECKING:
    from connector.lucca.models import LuccaEmployee

PAGE_SIZE = 100  # Lucca's maximum


class EmployeePaging:
    """Resumable employee pages and reads by id, on top of the client's choke point."""

    def employee_page(
        self, params: Mapping[str, str], cursor: str | None = None
    ) -> tuple[list[LuccaEmployee], str | None]:
        """One page of 100 employees sorted by id (`params`: Lucca's filters), and the link to
        the next one (None at the end): a cursor a later invocation resumes from."""
        query = {**params, "sort": "id", "limit": str(PAGE_SIZE), "include": "embedded,links"}
        page = self._get("employees", query) if cursor is None else self._follow(cursor)
        found = [self._employee(item, page.get("embedded")) for item in items(page)]
        links = page.get("links")
        next_link = links.get("next") if isinstance(links, dict) else None
        href = next_link.get("href") if isinstance(next_link, dict) else None
        return found, href if isinstance(href, str) and href else None

    def employees_by_id(self, employee_ids: Iterable[str]) -> list[LuccaEmployee]:
        """The employees of these ids, every status, 100 ids a request (Lucca's `id` filter);
        an id Lucca does not know is simply absent."""
        ids = sorted(set(employee_ids), key=lambda i: (len(i), i))
        found: list[LuccaEmployee] = []
        for start in range(0, len(ids), PAGE_SIZE):
            params = {
                "id": ",".join(ids[start : start + PAGE_SIZE]),
                "limit": str(PAGE_SIZE),
                "include": "embedded,links",
            }
            for page in self._pages("employees", params):
                found += [self._employee(item, page.get("embedded")) for item in items(page)]
        return found

    def counted_employees(
        self, statuses: Iterable[str], on_total: Callable[[int], None]
    ) -> Iterator[LuccaEmployee]:
        """The employees of these statuses, pages of 100; `on_total` gets Lucca's `totalCount`
        (`include=totalCount`: the items across all pages) from the first page if it has one."""
        params = {
            "status": ",".join(statuses),
            "limit": str(PAGE_SIZE),
            "include": "embedded,links,totalCount",
        }
        for number, page in enumerate(self._pages("employees", params)):
            total = page.get("totalCount")
            if number == 0 and isinstance(total, int) and not isinstance(total, bool):
                on_total(total)
            yield from (self._employee(item, page.get("embedded")) for item in items(page))

    # -- what the client provides -----------------------------------------------------------
    def _get(self, path: str, params: Mapping[str, str] | None = None) -> dict[str, Any]:
        raise NotImplementedError

    def _follow(self, href: str) -> dict[str, Any]:
        raise NotImplementedError

    def _pages(self, path: str, params: Mapping[str, str]) -> Iterator[dict[str, Any]]:
        raise NotImplementedError

    def _employee(self, doc: dict[str, Any], embedded: Any) -> LuccaEmployee:
        raise NotImplementedError
