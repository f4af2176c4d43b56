"""The Lucca reads SYNC_SCOPE needs beyond the sync's: the department tree, the employment
templates (contract types) and the employees' custom fields (employee-extensions).

`LuccaScopeClient` is the Lucca client with these reads; each goes through the client's one
request choke point and rate limiter. The department list and the templates change rarely:
they are read whole (100 a request) and kept `cache_ttl` seconds per worker, so a sync asks
nothing more of Lucca most of the time. Custom-field values change with the employee: one
request a sync, or 100 employees' a request for the reconciliation and the doctor.
https://developers.lucca.fr/api-reference/latest/employee-extensions/employee-extension
"""

from __future__ import annotations

import threading
from collections.abc import Collection
from typing import Any, Literal

from pydantic import Field

from connector.lucca.answers import items, parse
from connector.lucca.client import PAGE_SIZE, LuccaClient
from connector.lucca.models import LuccaDepartment, OptionalRef, Ref, _Document

TEMPLATES_SCOPE = "employment-templates.readonly"  # SYNC_SCOPE with contractType
EXTENSIONS_SCOPE = "employee-extensions.readonly"  # SYNC_SCOPE with extension.<id>
DEPTH_LIMIT = 64  # a department tree deeper than this is a loop in the data


class LuccaEmploymentTemplate(_Document):
    """An employment template: a contract type such as "CDI" or "Internship"."""

    id: str
    title: str
    term: Literal["permanent", "fixed"] | None = None


class LuccaEmployeeExtension(_Document):
    """One value of an employee's custom field (the definition gives its meaning)."""

    id: str
    employee_id: Ref = Field(alias="employee")
    definition_id: OptionalRef = Field(default=None, alias="extensionDefinition")
    value: Any = None

    @property
    def text(self) -> str | None:
        """The value as text: a reference (a taxonomy label) by its id; None when empty."""
        value = self.value.get("id") if isinstance(self.value, dict) else self.value
        if value is None or isinstance(value, (list, dict)):
            return None
        if isinstance(value, bool):
            return "true" if value else "false"
        return str(value)


class LuccaScopeClient(LuccaClient):
    """The Lucca client, with the reads SYNC_SCOPE's fields need."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._tree_lock = threading.Lock()
        self._tree_until = 0.0
        self._templates_until = 0.0
        # definition → (the employees read, None for all; their values), while preloaded
        self._extensions: dict[str, tuple[frozenset[str] | None, dict[str, tuple[str, ...]]]] = {}

    def department_chain(self, department_id: str) -> tuple[str, ...]:
        """The department's id, then its parents' up to the top (the list read whole, cached)."""
        with self._tree_lock:
            if self._clock() >= self._tree_until:
                self.preload("departments")
                self._tree_until = self._clock() + self._cache_ttl
        chain: list[str] = []
        current: str | None = department_id
        while current is not None and current not in chain and len(chain) < DEPTH_LIMIT:
            chain.append(current)
            current = self._cached("departments", current, LuccaDepartment).parent_id
        return tuple(chain)

    def employment_template(self, template_id: str) -> LuccaEmploymentTemplate:
        """An employment template (all of them read at once, cached)."""
        kind = "employment-templates"
        with self._tree_lock:
            if self._clock() >= self._templates_until:
                for page in self._pages(kind, {"limit": str(PAGE_SIZE), "include": "links"}):
                    for item in items(page):
                        value = parse(LuccaEmploymentTemplate, item, kind)
                        with self._cache_lock:
                            self._cache[(kind, value.id)] = (self._clock() + self._cache_ttl, value)
                self._templates_until = self._clock() + self._cache_ttl
        return self._cached(kind, template_id, LuccaEmploymentTemplate)

    def extension_values(self, employee_id: str, definition_id: str) -> tuple[str, ...]:
        """The employee's values of a custom field: from `preload_extensions`, else one GET."""
        covered, loaded = self._extensions.get(definition_id, (frozenset(), {}))
        if covered is None or employee_id in covered:
            return loaded.get(employee_id, ())
        params = {"employee.id": employee_id, "extensionDefinition.id": definition_id}
        return self._extension_map(params).get(employee_id, ())

    def preload_extensions(
        self, definition_id: str, employee_ids: Collection[str] | None = None
    ) -> int:
        """Read the values of a custom field at once, 100 a request: every employee's, or
        these employees' (100 ids a request, as Lucca's `employee.id` filter takes); until
        `forget_extensions`, `extension_values` answers from them. Returns how many."""
        if employee_ids is None:
            values = self._extension_map({"extensionDefinition.id": definition_id})
            self._extensions[definition_id] = (None, values)
            return sum(len(v) for v in values.values())
        ids = sorted(set(employee_ids), key=lambda i: (len(i), i))
        values = {}
        for start in range(0, len(ids), PAGE_SIZE):
            batch = ",".join(ids[start : start + PAGE_SIZE])
            params = {"employee.id": batch, "extensionDefinition.id": definition_id}
            values.update(self._extension_map(params))
        self._extensions[definition_id] = (frozenset(ids), values)
        return sum(len(v) for v in values.values())

    def forget_extensions(self, definition_id: str) -> None:
        """Drop what `preload_extensions` read: later syncs read the values afresh."""
        self._extensions.pop(definition_id, None)

    def _extension_map(self, params: dict[str, str]) -> dict[str, tuple[str, ...]]:
        kind = "employee-extensions"
        found: dict[str, list[str]] = {}
        query = params | {"limit": str(PAGE_SIZE), "include": "links"}
        for page in self._pages(kind, query):
            for item in items(page):
                extension = parse(LuccaEmployeeExtension, item, kind)
                if extension.text is not None:
                    found.setdefault(extension.employee_id, []).append(extension.text)
        return {employee: tuple(values) for employee, values in found.items()}
