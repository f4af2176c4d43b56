"""The administrator's mapping rows (`SYNC_MAPPING_FILE`): parsed, checked and turned into rows
of the mapping table, a row for a target the table has replacing the table's.

A row is `{"target": <Graph property>, <one of "constant", "source" or "join">, optional
"separator" (with "join"), "transforms" (trim, upper, lower, in order), "lookup" (a table
applied after the transforms; a value it lacks becomes empty) and "default" (for an empty
value)}`. Nested targets are named with a dot (`employeeOrgData.costCenter`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any, Final

from connector.domain.mapping import BY_NAME, Attribute, LuccaView, Need

# Graph's documented maximum lengths (https://learn.microsoft.com/graph/api/resources/user
# #properties, .../onpremisesextensionattributes, .../extensionproperty): None is not cut.
EXTENSION_ATTRIBUTE_LENGTH: Final = 1024
DIRECTORY_EXTENSION_LENGTH: Final = 256  # a String directory extension property
NEW_TARGETS: Final[dict[str, int | None]] = {
    "businessPhones": 64,  # a collection: the row gives its one value
    "mobilePhone": 64,
    "employeeOrgData.division": None,
    "employeeOrgData.costCenter": None,
}
# The table's rows a file may fill otherwise; with Graph's rules (length, never cleared).
TABLE_TARGETS: Final = frozenset(
    {"surname", "givenName", "displayName", "department", "jobTitle", "companyName",
     "officeLocation", "usageLocation", "employeeType"}
)  # fmt: skip
EXTENSION_ATTRIBUTE = re.compile(r"onPremisesExtensionAttributes\.extensionAttribute([1-9]|1[0-5])")
# A directory schema extension: extension_<the app id without dashes>_<name>.
DIRECTORY_EXTENSION = re.compile(r"extension_[0-9a-fA-F]{32}_[A-Za-z0-9_]{1,120}")
REFUSED_TARGETS: Final = {
    "employeeId": "employeeId is the connector's anchor lucca-<id> and cannot be mapped",
    "manager": "the manager is set between linked accounts and cannot be mapped",
    "mail": "mail is Lucca's professional email and cannot be mapped",
    "userPrincipalName": "the login is set at creation (and by SYNC_UPN) and cannot be mapped",
}


def _employee(field: str) -> Callable[[LuccaView], str | None]:
    return lambda view: getattr(view.employee, field)


def _job_title(view: LuccaView) -> str | None:
    position = view.employee.job_position
    return position.job_title if position else None


def _of(part: str, field: str) -> Callable[[LuccaView], str | None]:
    def read(view: LuccaView) -> str | None:
        item = getattr(view, part)
        return getattr(item, field) if item is not None else None

    return read


# Each source: how it reads the view, and what it needs from Lucca beyond the employee.
SOURCES: Final[dict[str, tuple[Callable[[LuccaView], str | None], Need | None]]] = {
    "id": (_employee("id"), None),
    "givenName": (_employee("given_name"), None),
    "familyName": (_employee("family_name"), None),
    "email": (_employee("email"), None),
    "employeeNumber": (_employee("employee_number"), None),
    "phoneNumber": (_employee("phone_number"), None),
    "jobTitle": (_job_title, None),
    "department.name": (_of("department", "name"), Need.DEPARTMENT),
    "department.id": (_of("department", "id"), Need.DEPARTMENT),
    "legalEntity.name": (_of("legal_entity", "name"), Need.LEGAL_ENTITY),
    "legalEntity.id": (_of("legal_entity", "id"), Need.LEGAL_ENTITY),
    "establishment.name": (_of("establishment", "name"), Need.ESTABLISHMENT),
    "establishment.id": (_of("establishment", "id"), Need.ESTABLISHMENT),
}
TRANSFORMS: Final[dict[str, Callable[[str], str]]] = {
    "trim": str.strip,
    "upper": str.upper,
    "lower": str.lower,
}
ROW_KEYS: Final = frozenset(
    {"target", "constant", "source", "join", "separator", "transforms", "lookup", "default"}
)


class MappingFileError(ValueError):
    """The mapping file is malformed; the message names the row (number and target)."""


def target_rules(target: str) -> tuple[int | None, bool] | None:
    """Graph's maximum length and whether an empty value leaves it, for a target a file may
    fill; None for a target it may not."""
    if target in TABLE_TARGETS:
        row = BY_NAME[target]
        return row.max_length, row.never_cleared
    if target in NEW_TARGETS:
        return NEW_TARGETS[target], False
    if EXTENSION_ATTRIBUTE.fullmatch(target):
        return EXTENSION_ATTRIBUTE_LENGTH, False
    if DIRECTORY_EXTENSION.fullmatch(target):
        return DIRECTORY_EXTENSION_LENGTH, False
    return None


def parse_rows(document: Any) -> tuple[Attribute, ...]:
    """The rows of a mapping file's JSON document; MappingFileError naming the first bad row."""
    if not isinstance(document, dict) or not isinstance(document.get("rows"), list):
        raise MappingFileError("must be an object with a list 'rows' (see docs/mapping.md)")
    extra = sorted(set(document) - {"rows"})
    if extra:
        raise MappingFileError(f"unknown key '{extra[0]}' (only 'rows')")
    rows: list[Attribute] = []
    seen: dict[str, int] = {}
    for number, row in enumerate(document["rows"], start=1):
        if not isinstance(row, dict):
            raise MappingFileError(f"row {number}: must be an object")
        target = row.get("target")
        if not isinstance(target, str) or not target:
            raise MappingFileError(f"row {number}: 'target' is missing")
        where = f"row {number} ({target})"
        try:
            attribute = _row(row, target)
        except ValueError as err:
            raise MappingFileError(f"{where}: {err}") from None
        if target in seen:
            raise MappingFileError(
                f"{where}: the target has another row already (row {seen[target]})"
            )
        seen[target] = number
        rows.append(attribute)
    return tuple(rows)


def _row(row: Mapping[str, Any], target: str) -> Attribute:
    """One row as a mapping row; ValueError says what is wrong with it."""
    unknown = sorted(set(row) - ROW_KEYS)
    if unknown:
        raise ValueError(f"unknown key '{unknown[0]}'")
    if target in REFUSED_TARGETS:
        raise ValueError(REFUSED_TARGETS[target])
    rules = target_rules(target)
    if rules is None:
        raise ValueError(
            f"unknown target '{target}': see docs/mapping.md for the targets a file may fill"
        )
    longest, keep_when_empty = rules
    given = [key for key in ("constant", "source", "join") if key in row]
    if len(given) != 1:
        several = ", not several" if given else ""
        raise ValueError(f"give one of 'constant', 'source' or 'join'{several}")
    for key in ("constant", "default", "separator"):
        if key in row and not isinstance(row[key], str):
            raise ValueError(f"'{key}' must be text")
    if "separator" in row and "join" not in row:
        raise ValueError("'separator' goes with 'join' only")
    constant: str | None = row.get("constant")
    for fixed, what in ((constant, "constant"), (row.get("default"), "default")):
        if fixed is not None and longest is not None and len(fixed) > longest:
            raise ValueError(f"the {what} is longer than Graph takes ({longest})")
    sources = _sources(row)
    value = _value(
        constant=constant,
        reads=tuple(SOURCES[s][0] for s in sources),
        separator=row.get("separator", " "),
        transforms=_transforms(row),
        lookup=_lookup(row),
        default=row.get("default"),
    )
    needs = frozenset(need for s in sources if (need := SOURCES[s][1]) is not None)
    what = f"the constant {constant!r}" if constant is not None else " + ".join(sources)
    return Attribute(
        name=target,
        value=value,
        needs=needs,
        description=f"{what} (SYNC_MAPPING_FILE)",
        never_cleared=keep_when_empty,
        max_length=longest,
    )


def _sources(row: Mapping[str, Any]) -> list[str]:
    """The row's source, or the sources it joins, each a known one."""
    sources: list[str] = []
    if "source" in row:
        sources = [row["source"]] if isinstance(row["source"], str) else [repr(row["source"])]
    elif "join" in row:
        if not isinstance(row["join"], list) or not row["join"]:
            raise ValueError("'join' must be a list of sources")
        sources = [str(s) for s in row["join"]]
    for source in sources:
        if source not in SOURCES:
            raise ValueError(f"unknown source '{source}': choose among {', '.join(SOURCES)}")
    return sources


def _transforms(row: Mapping[str, Any]) -> tuple[Callable[[str], str], ...]:
    """The row's transforms, in order, each a known one."""
    names = row.get("transforms", [])
    if not isinstance(names, list):
        raise ValueError("'transforms' must be a list")
    for name in names:
        if name not in TRANSFORMS:
            raise ValueError(f"unknown transform '{name}': choose among {', '.join(TRANSFORMS)}")
    return tuple(TRANSFORMS[name] for name in names)


def _lookup(row: Mapping[str, Any]) -> dict[str, str] | None:
    """The row's lookup table, text to text; None without one."""
    if "lookup" not in row:
        return None
    lookup = row["lookup"]
    if not isinstance(lookup, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in lookup.items()
    ):
        raise ValueError("'lookup' must map text to text")
    return dict(lookup)


def _value(
    *,
    constant: str | None,
    reads: tuple[Callable[[LuccaView], str | None], ...],
    separator: str,
    transforms: tuple[Callable[[str], str], ...],
    lookup: dict[str, str] | None,
    default: str | None,
) -> Callable[[LuccaView], str | None]:
    """The row's value: the constant or the sources (joined, empty ones skipped), the
    transforms in order, the lookup, then the default for an empty value."""

    def value(view: LuccaView) -> str | None:
        if constant is not None:
            text: str | None = constant
        else:
            parts = [(read(view) or "").strip() for read in reads]
            text = separator.join(p for p in parts if p) or None
        if text is not None:
            for transform in transforms:
                text = transform(text)
            if lookup is not None:
                text = lookup.get(text)
        return text if text and text.strip() else default

    return value


def merged(owned: tuple[Attribute, ...], rows: tuple[Attribute, ...]) -> tuple[Attribute, ...]:
    """The owned table rows with the file's rows: a file row replaces the table's row of its
    target, in place; the others follow the table's."""
    by_target = {row.name: row for row in rows}
    kept = tuple(by_target.pop(a.name, a) for a in owned)
    return (*kept, *(row for row in rows if row.name in by_target))
