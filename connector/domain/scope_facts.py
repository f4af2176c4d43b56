"""Whether SYNC_SCOPE keeps an employee: its facts read from Lucca, only the fields it uses."""

from __future__ import annotations

from collections.abc import Collection, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Protocol

from connector.core.errors import NotFound
from connector.domain.sync_scope import EXTENSION, SyncScope, extension_ids

if TYPE_CHECKING:
    from connector.lucca.models import LuccaEmployee
    from connector.lucca.scope_reads import LuccaEmploymentTemplate


class ScopeReader(Protocol):
    """What the facts read from Lucca (`LuccaScopeClient` fits)."""

    def department_chain(self, department_id: str) -> tuple[str, ...]:
        """The department's id, then its parents'."""
        ...

    def employment_template(self, template_id: str) -> LuccaEmploymentTemplate:
        """An employment template."""
        ...

    def extension_values(self, employee_id: str, definition_id: str) -> tuple[str, ...]:
        """The employee's values of a custom field."""
        ...

    def preload_extensions(self, definition_id: str, employee_ids: Collection[str]) -> int:
        """Read these employees' values of a custom field at once."""
        ...

    def forget_extensions(self, definition_id: str) -> None:
        """Drop the values read at once."""
        ...


class EmployeeFacts:
    """An employee's values per SYNC_SCOPE field, read when first asked."""

    def __init__(self, employee: LuccaEmployee, reader: ScopeReader) -> None:
        self._employee = employee
        self._reader = reader

    def values(self, field: str) -> tuple[str, ...]:
        """The employee's values of `field`; none when Lucca has none (or hides it)."""
        try:
            if field.startswith(EXTENSION):
                definition = field[len(EXTENSION) :]
                return self._reader.extension_values(self._employee.id, definition)
            return {
                "legalEntity": self._legal_entity,
                "establishment": self._establishment,
                "department": self._department,
                "contractType": self._contract_type,
            }[field]()
        except NotFound:  # outside what the API client may see: no value
            return ()

    def _legal_entity(self) -> tuple[str, ...]:
        employment = self._employee.employment
        return (employment.legal_entity_id,) if employment else ()

    def _establishment(self) -> tuple[str, ...]:
        position = self._employee.job_position
        return (position.establishment_id,) if position else ()

    def _department(self) -> tuple[str, ...]:
        position = self._employee.job_position
        return self._reader.department_chain(position.department_id) if position else ()

    def _contract_type(self) -> tuple[str, ...]:
        """The template's id, title and term."""
        employment = self._employee.employment
        if employment is None or employment.template_id is None:
            return ()
        template = self._reader.employment_template(employment.template_id)
        return tuple(v for v in (template.id, template.title, template.term) if v)


class ScopeJudge:
    """Says whether SYNC_SCOPE keeps an employee."""

    def __init__(self, scope: SyncScope, reader: ScopeReader) -> None:
        self.scope = scope
        self._reader = reader

    def keeps(self, employee: LuccaEmployee) -> bool:
        """Whether the employee, as read now, is in the scope."""
        return self.scope.keeps(EmployeeFacts(employee, self._reader))

    @contextmanager
    def reading_ahead(self, employee_ids: Collection[str]) -> Iterator[None]:
        """While judging many employees: the custom fields the scope reads are read for all
        of them at once (100 employees a request), not one request each; dropped after."""
        definitions = extension_ids(self.scope.fields)
        try:
            for definition in definitions:
                self._reader.preload_extensions(definition, employee_ids)
            yield
        finally:
            for definition in definitions:
                self._reader.forget_extensions(definition)
