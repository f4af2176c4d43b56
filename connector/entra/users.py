"""What a user read holds: the properties the connector reasons about as fields, the mapped
ones by Graph name; and the SDK's `User` to and from it."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Final, Literal, get_args

from msgraph.generated.models.user import User

from connector.entra import shapes

FindBy = Literal["employeeId", "mail", "userPrincipalName"]
FIND_BY: Final = frozenset(get_args(FindBy))
# What the connector itself reasons about, Graph wire name → DirectoryUser field (the SDK's
# `User` attribute of the same name); every read selects these keys, in this order, then the
# mapped properties the directory is given.
USER_FIELDS: Final = {
    "id": "id",
    "userPrincipalName": "user_principal_name",
    "mail": "mail",
    "employeeId": "employee_id",
    "accountEnabled": "account_enabled",
    "userType": "user_type",
    "onPremisesSyncEnabled": "on_premises_sync_enabled",
}
# What the connector writes besides the mapped properties: what a new account always carries
# (Graph requires displayName and mailNickname), and the account's state.
WRITABLE: Final = frozenset(
    {
        "accountEnabled", "displayName", "mail", "userPrincipalName", "mailNickname",
        "employeeId",
        # Written (never read) with LIFECYCLE_DATES: reading them needs a permission more.
        "employeeHireDate", "employeeLeaveDateTime",
    }
)  # fmt: skip
DOMAIN_SELECT: Final = ("id", "isVerified", "isDefault", "authenticationType")


@dataclass(frozen=True, kw_only=True)
class DirectoryUser:
    """An Entra user, as read with the directory's `select`: what the connector reasons about
    as fields, the mapped properties in `properties`."""

    id: str
    user_principal_name: str | None = None
    mail: str | None = None
    employee_id: str | None = None
    account_enabled: bool | None = None
    user_type: str | None = None
    on_premises_sync_enabled: bool | None = None
    # The mapped properties the directory selects, by Graph name (`jobTitle`), a member of an
    # object by a dot (`employeeOrgData.costCenter`, see shapes.py); None when empty.
    properties: Mapping[str, str | None] = field(default_factory=dict)
    # Read with the user by `get_user` (one request instead of two); unknown otherwise.
    manager_known: bool = False
    manager_id: str | None = None

    def graph_value(self, prop: str) -> str | None:
        """A property by its Graph name (`jobTitle`, `mail`), as text; None if empty or unread."""
        name = USER_FIELDS.get(prop)
        value = getattr(self, name) if name is not None else self.properties.get(prop)
        return None if value is None else str(value)


@dataclass(frozen=True, kw_only=True)
class Domain:
    """A domain of the tenant: `authentication_type` is "Managed" or "Federated"."""

    id: str
    is_verified: bool
    is_default: bool
    authentication_type: str


def to_user(user: User, mapped: tuple[str, ...]) -> DirectoryUser:
    """The SDK's `User` as a DirectoryUser, with the `mapped` properties by Graph name."""
    fields = {name: getattr(user, name) for name in USER_FIELDS.values()}
    properties = {
        prop: text(shapes.read(lambda name: sdk_value(user, name), prop)) for prop in mapped
    }
    return DirectoryUser(**fields, properties=properties)


def with_manager(user: User, mapped: tuple[str, ...]) -> DirectoryUser:
    """A user read with `$expand=manager($select=id)`: its manager is known."""
    manager = user.manager.id if user.manager is not None else None
    return replace(to_user(user, mapped), manager_known=True, manager_id=manager)


def sdk_value(user: User, prop: str) -> object:
    """A property of the SDK's `User` by its Graph name: the typed attribute (`jobTitle` →
    `job_title`), else what the SDK kept in `additional_data` (a property it does not type)."""
    name = re.sub(r"(?<!^)(?=[A-Z])", "_", prop).lower()
    if hasattr(user, name):
        return getattr(user, name)
    return (user.additional_data or {}).get(prop)


def odata_literal(value: str) -> str:
    """The inside of an OData string literal: a quote is doubled (`'o''brien@acme.fr'`)."""
    return value.replace("'", "''")


def text(value: object) -> str | None:
    """A property's value as text, None as None."""
    return None if value is None else str(value)


def user_body(properties: Mapping[str, object], writable: frozenset[str]) -> User:
    """A `User` body carrying exactly `properties` (flat names, nested as Graph takes them by
    `shapes.wire`), None values as JSON null."""
    unknown = sorted(set(properties) - writable)
    if unknown:
        raise ValueError(f"not a user property the connector writes: {', '.join(unknown)}")
    # The SDK's typed fields are skipped when None, so a property to clear would silently
    # drop out of the PATCH; `additional_data` is written as given, None as null.
    return User(additional_data=shapes.wire(properties))
