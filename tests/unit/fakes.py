"""Small fakes of Lucca and Entra at the engines' ports (`LuccaReader`, the planner's employments,
`Directory`, `AccountSwitch`): the engines' unit tests need no sandbox. Test code only."""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import replace
from datetime import date, datetime
from typing import Any

from connector.core.errors import Denied, NotFound
from connector.domain.mapping import graph_properties
from connector.entra.deleted import DeletedUser
from connector.entra.scope import MatchScope
from connector.entra.users import USER_FIELDS, DirectoryUser, Domain, FindBy
from connector.lucca.models import (
    LuccaDepartment,
    LuccaEmployee,
    LuccaEmployment,
    LuccaEstablishment,
    LuccaJobPosition,
    LuccaLegalEntity,
)


class FakeLucca:
    """Employees with one employment and job position each, in one department, legal entity and
    establishment; a test changes them by replacing the employee."""

    def __init__(self) -> None:
        self.employees: dict[str, LuccaEmployee] = {}
        self.department_ = LuccaDepartment(id="10", name="Engineering")
        self.legal_entity_ = LuccaLegalEntity(id="20", name="Acme SAS", country_code="FRA")
        self.establishment_ = LuccaEstablishment(
            id="30", name="Paris", timezone_id="Europe/Paris", legal_entity_id="20"
        )
        self._ids = itertools.count(1)

    def hire(
        self,
        given_name: str,
        family_name: str,
        *,
        start: date,
        end: date | None = None,
        email: str | None = None,
        job_title: str = "Engineer",
        manager_id: str | None = None,
    ) -> LuccaEmployee:
        """A new employee (its email `given.family@acme.fr` unless told)."""
        employee_id = str(next(self._ids))
        employment = LuccaEmployment(
            id=f"e{employee_id}",
            employee_id=employee_id,
            start=start,
            end=end,
            legal_entity_id="20",
        )
        position = LuccaJobPosition(
            id=f"p{employee_id}",
            employee_id=employee_id,
            employment_id=employment.id,
            job_title=job_title,
            manager_id=manager_id,
            department_id="10",
            establishment_id="30",
            starts_on=start,
        )
        employee = LuccaEmployee(
            id=employee_id,
            given_name=given_name,
            family_name=family_name,
            email=email or f"{given_name}.{family_name}@acme.fr".lower(),
            status="active",
            employment=employment,
            job_position=position,
        )
        self.employees[employee_id] = employee
        return employee

    def change_job(self, employee_id: str, **changes: Any) -> None:
        """Change the employee's job position (its title, manager…)."""
        employee = self.employees[employee_id]
        assert employee.job_position is not None
        position = employee.job_position.model_copy(update=changes)
        self.employees[employee_id] = employee.model_copy(update={"job_position": position})

    def employee(self, employee_id: str) -> LuccaEmployee:
        """The employee; NotFound if there is none."""
        if employee_id not in self.employees:
            raise NotFound(f"no employee {employee_id}", service="lucca")
        return self.employees[employee_id]

    def employments(self, employee_id: str) -> list[LuccaEmployment]:
        """The employee's one employment."""
        employment = self.employee(employee_id).employment
        return [employment] if employment else []

    def department(self, department_id: str) -> LuccaDepartment:
        """The one department."""
        return self.department_

    def legal_entity(self, legal_entity_id: str) -> LuccaLegalEntity:
        """The one legal entity."""
        return self.legal_entity_

    def establishment(self, establishment_id: str) -> LuccaEstablishment:
        """The one establishment."""
        return self.establishment_


_FIELDS = {field: prop for prop, field in USER_FIELDS.items()}  # job fields → Graph names
_MAPPED = frozenset(graph_properties())  # what the real directory is given to select


def _held(user: DirectoryUser, properties: Mapping[str, Any]) -> DirectoryUser:
    """`user` with the properties (by Graph name) a read would show: its fields, and the
    mapped properties in `properties`; the rest (password, nickname) is not read back."""
    known = {USER_FIELDS[k]: v for k, v in properties.items() if k in USER_FIELDS and k != "id"}
    mapped = {k: None if v is None else str(v) for k, v in properties.items() if k in _MAPPED}
    return replace(user, **known, properties={**user.properties, **mapped})


class FakeDirectory:
    """A tenant with the verified, managed domain acme.fr; it records every write."""

    def __init__(self, *, roles: frozenset[str] | None = frozenset({"User.ReadWrite.All"})) -> None:
        self.users: dict[str, DirectoryUser] = {}
        self.managers: dict[str, str] = {}
        self.writes: list[tuple[Any, ...]] = []
        self.roles = roles
        self.directory_role_names: dict[str, list[str]] = {}  # object id → its directory roles
        self.scope_members: set[str] = set()  # the accounts in MATCH_SCOPE
        self.deleted: dict[str, tuple[DirectoryUser, DeletedUser]] = {}  # the recycle bin
        self.refused_restores: set[str] = set()  # Graph answers 403 to restoring these
        self._ids = itertools.count(1)

    def add(self, **properties: Any) -> DirectoryUser:
        """An account that exists already (by DirectoryUser field or Graph name), not a
        write."""
        graph = {_FIELDS.get(name, name): value for name, value in properties.items()}
        user = _held(DirectoryUser(id=f"u-{next(self._ids)}"), graph)
        self.users[user.id] = user
        return user

    def get_user(self, object_id: str) -> DirectoryUser | None:
        """By object id or login, with its manager (as `GraphDirectory.get_user`)."""
        user = self.users.get(object_id) or next(
            (u for u in self.users.values() if u.user_principal_name == object_id), None
        )
        if user is None:
            return None
        return replace(user, manager_known=True, manager_id=self.managers.get(user.id))

    def find_users(self, prop: FindBy, value: str) -> list[DirectoryUser]:
        """Users whose property equals `value`, without case."""
        return [
            u
            for u in self.users.values()
            if (u.graph_value(prop) or "").casefold() == value.casefold()
        ]

    def address_holders(self, address: str) -> list[DirectoryUser]:
        """Users holding `address` as login or mail, without case."""
        return [
            u
            for u in self.users.values()
            if address.casefold()
            in {(u.user_principal_name or "").casefold(), (u.mail or "").casefold()}
        ]

    def create_user(self, properties: Any, password: str) -> DirectoryUser:
        """A new user from the properties DirectoryUser holds."""
        self.writes.append(("create", dict(properties)))
        return self.add(**properties)

    def update_user(self, object_id: str, properties: Any) -> None:
        """Change the properties DirectoryUser holds (the others are only recorded)."""
        self.writes.append(("update", object_id, dict(properties)))
        self.users[object_id] = _held(self.users[object_id], properties)

    def manager_id(self, object_id: str) -> str | None:
        """The user's manager."""
        return self.managers.get(object_id)

    def set_manager(self, object_id: str, manager_object_id: str) -> None:
        """Set the user's manager."""
        self.writes.append(("manager", object_id, manager_object_id))
        self.managers[object_id] = manager_object_id

    def remove_manager(self, object_id: str) -> None:
        """Remove the user's manager."""
        self.writes.append(("manager", object_id, None))
        self.managers.pop(object_id, None)

    def revoke_sessions(self, object_id: str) -> None:
        """Record the revocation."""
        self.writes.append(("revoke", object_id))

    def domains(self) -> list[Domain]:
        """acme.fr, verified and managed."""
        return [
            Domain(id="acme.fr", is_verified=True, is_default=True, authentication_type="Managed")
        ]

    def granted_roles(self) -> frozenset[str] | None:
        """The roles in the token."""
        return self.roles

    def directory_roles(self, object_id: str) -> list[str]:
        """The directory roles a test gave the account."""
        return list(self.directory_role_names.get(object_id, []))

    def in_scope(self, object_id: str, scope: MatchScope) -> bool:
        """Whether the account is in the (one) scope."""
        return object_id in self.scope_members

    def add_to_scope(self, scope: MatchScope, object_id: str) -> None:
        """Put the account in the scope."""
        self.writes.append(("scope", scope.id, object_id))
        self.scope_members.add(object_id)

    def delete(self, object_id: str, at: datetime | None = None) -> None:
        """Delete an account as IT would: to the recycle bin, keeping its login."""
        user = self.users.pop(object_id)
        self.managers.pop(object_id, None)
        self.deleted[object_id] = (
            user,
            DeletedUser(
                id=user.id,
                user_principal_name=user.user_principal_name,
                display_name=user.properties.get("displayName"),
                employee_id=user.employee_id,
                deleted_at=at,
            ),
        )

    def deleted_holders(self, login: str) -> list[DeletedUser]:
        """The deleted users whose login is `login`, without case."""
        return [
            d
            for _, d in self.deleted.values()
            if (d.user_principal_name or "").casefold() == login.casefold()
        ]

    def deleted_user(self, object_id: str) -> DeletedUser | None:
        """A deleted user by object id."""
        held = self.deleted.get(object_id)
        return held[1] if held else None

    def restore(self, object_id: str) -> DirectoryUser:
        """Back among the users, the same object id (Denied for a refused one)."""
        if object_id in self.refused_restores:
            raise Denied("Insufficient privileges to complete the operation.", service="graph")
        self.writes.append(("restore", object_id))
        user, _ = self.deleted.pop(object_id)
        self.users[object_id] = user
        return user
