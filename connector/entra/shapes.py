"""User properties that are not one string on the wire, named flat for the rest of the
connector: a member of an object by a dot (`employeeOrgData.costCenter`), a collection of one
by its name (`businessPhones`).

Graph's rules (https://learn.microsoft.com/graph/api/resources/user#properties):
`employeeOrgData` is replaced whole by a PATCH, a member left out becomes null
(https://learn.microsoft.com/graph/api/resources/employeeorgdata), so a write sends both;
`onPremisesExtensionAttributes` changes only the members a PATCH names
(https://learn.microsoft.com/graph/api/resources/onpremisesextensionattributes), read only as
the whole object; `businessPhones` holds at most one number, `[]` clears it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from typing import Final

MEMBERS: Final[dict[str, tuple[str, ...]]] = {
    "employeeOrgData": ("division", "costCenter"),
    "onPremisesExtensionAttributes": tuple(f"extensionAttribute{n}" for n in range(1, 16)),
}
REPLACED_WHOLE: Final = frozenset({"employeeOrgData"})
COLLECTIONS: Final = frozenset({"businessPhones"})


def head(prop: str) -> str:
    """The Graph property a flat name lives in (`employeeOrgData.costCenter` →
    `employeeOrgData`)."""
    return prop.partition(".")[0]


def selected(props: Iterable[str]) -> tuple[str, ...]:
    """The `$select` names for flat names: each object once, in first-seen order."""
    return tuple(dict.fromkeys(head(p) for p in props))


def with_siblings(props: Mapping[str, bool]) -> dict[str, bool]:
    """The flat names with every member of an object Graph replaces whole, writable when any
    member is: a write of one member must carry the others as they are."""
    result = dict(props)
    for obj in REPLACED_WHOLE:
        given = [w for p, w in props.items() if head(p) == obj and "." in p]
        if given:
            for member in MEMBERS[obj]:
                result[f"{obj}.{member}"] = result.get(f"{obj}.{member}", False) or any(given)
    return result


def completed(
    changes: Mapping[str, object], current: Callable[[str], str | None]
) -> dict[str, object]:
    """`changes` with, for an object Graph replaces whole, the members not changed as they
    are now (`current` reads a flat name): what a PATCH must carry not to clear them."""
    result = dict(changes)
    for obj in REPLACED_WHOLE:
        if any(head(p) == obj and "." in p for p in changes):
            for member in MEMBERS[obj]:
                result.setdefault(f"{obj}.{member}", current(f"{obj}.{member}"))
    return result


def wire(properties: Mapping[str, object]) -> dict[str, object]:
    """Flat names to Graph's body: members nested in their object, a collection's one value
    in a list (None: the empty list)."""
    body: dict[str, object] = {}
    nested: dict[str, dict[str, object]] = {}
    for prop, value in properties.items():
        obj, _, member = prop.partition(".")
        if member and obj in MEMBERS:
            nested.setdefault(obj, {})[member] = value
        elif prop in COLLECTIONS:
            body[prop] = [] if value is None else [value]
        else:
            body[prop] = value
    return {**body, **nested}


def read(value_of: Callable[[str], object], prop: str) -> object:
    """A flat name's value from a read user (`value_of` gives a Graph property or an SDK
    object's attribute): a member of its object, a collection's first value."""
    obj, _, member = prop.partition(".")
    value = value_of(obj)
    if member:
        value = _member(value, member)
    if prop in COLLECTIONS:
        return value[0] if isinstance(value, list) and value else None
    return value


def _member(value: object, member: str) -> object:
    """A member of an SDK object (`costCenter` → `cost_center`) or of a dict."""
    if value is None:
        return None
    if isinstance(value, dict):
        return value.get(member)
    name = re.sub(r"(?<!^)(?=[A-Z])", "_", member).lower()  # extensionAttribute3 → …_attribute3
    if hasattr(value, name):
        return getattr(value, name)
    return (getattr(value, "additional_data", None) or {}).get(member)
