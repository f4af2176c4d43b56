"""The Graph sandbox's user properties that are not plain strings, as Graph v1.0 takes them.

- `employeeOrgData` (`division`, `costCenter`): replaced whole by a PATCH, a member left out
  becomes null (https://learn.microsoft.com/graph/api/resources/employeeorgdata); not a
  default property.
- `onPremisesExtensionAttributes` (`extensionAttribute1`…`15`, each up to 1024 characters):
  a PATCH changes the members it names, null clears one; read as the whole object, every
  member present; read-only for a user synchronised from on premises like every other
  property (https://learn.microsoft.com/graph/api/resources/onpremisesextensionattributes).
- `businessPhones`: a collection of strings of which only one may be set
  (https://learn.microsoft.com/graph/api/resources/user#properties); `[]` clears it.
- Directory extension properties `extension_<app id>_<name>` registered on an application:
  written by name, read with `$select` by name, left out of an answer when unset
  (https://learn.microsoft.com/graph/extensibility-overview#directory-microsoft-entra-id-extensions).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

Fail = Callable[[int, str, str], Exception]

MEMBERS: dict[str, tuple[str, ...]] = {
    "employeeOrgData": ("division", "costCenter"),
    "onPremisesExtensionAttributes": tuple(f"extensionAttribute{n}" for n in range(1, 16)),
}
REPLACED_WHOLE = frozenset({"employeeOrgData"})
MEMBER_LENGTHS = {"onPremisesExtensionAttributes": 1024}
MAX_BUSINESS_PHONES = 1


def _invalid(fail: Fail, prop: str) -> Exception:
    return fail(
        400,
        "Request_BadRequest",
        f"Invalid value specified for property '{prop}' of resource 'User'.",
    )


def _no_member(fail: Fail, name: str, entity: str) -> Exception:
    message = (
        f"The property '{name}' does not exist on type 'microsoft.graph.{entity}'. Make sure "
        "to only use property names that are defined by the type or mark the type as open type."
    )
    return fail(400, "BadRequest", message)


def check(attrs: dict[str, Any], fail: Fail) -> None:
    """Refuse what Graph refuses in these shapes (before anything is written)."""
    phones = attrs.get("businessPhones")
    if phones is not None and (
        not isinstance(phones, list)
        or len(phones) > MAX_BUSINESS_PHONES
        or not all(isinstance(p, str) for p in phones)
    ):
        raise _invalid(fail, "businessPhones")
    for prop, members in MEMBERS.items():
        value = attrs.get(prop)
        if value is None:
            continue
        if not isinstance(value, dict):
            raise _invalid(fail, prop)
        for name, member in value.items():
            if name.startswith("@odata."):
                continue
            if name not in members:
                raise _no_member(fail, name, prop)
            longest = MEMBER_LENGTHS.get(prop)
            if member is not None and (
                not isinstance(member, str) or (longest is not None and len(member) > longest)
            ):
                raise _invalid(fail, name)


def apply(user: dict[str, Any], attrs: dict[str, Any]) -> None:
    """Write `attrs` into the stored user the way Graph does: employeeOrgData replaced whole,
    the extension attributes merged member by member, the rest as given."""
    for prop, value in attrs.items():
        members = MEMBERS.get(prop)
        if members is None or value is None:
            user[prop] = value
            continue
        given = {k: v for k, v in value.items() if not k.startswith("@odata.")}
        base = {} if prop in REPLACED_WHOLE else dict(user.get(prop) or {})
        user[prop] = {name: given.get(name, base.get(name)) for name in members}


def read(user: dict[str, Any], prop: str) -> Any:
    """A stored property as Graph shows it: the extension attributes always as the whole
    object, every member present."""
    value = copy.deepcopy(user.get(prop))
    if prop == "onPremisesExtensionAttributes":
        return {name: (value or {}).get(name) for name in MEMBERS[prop]}
    return value
