"""MATCH_SCOPE and the permissions around an account's place in the directory, without the
Graph SDK (the settings read it at start-up, the webhook included)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final, Literal

# Listing role assignments needs this application permission, the least that reads them:
# https://learn.microsoft.com/graph/api/rbacapplication-list-roleassignments
ROLES_READ: Final = "RoleManagement.Read.Directory"
ROLES_DENIED: Final = "RoleReadDenied"  # the code of the Denied a refused roles read becomes
# Adding members: https://learn.microsoft.com/graph/api/group-post-members (a user: with
# User.ReadWrite.All, granted anyway) and .../administrativeunit-post-members.
SCOPE_WRITE: Final = {
    "group": "GroupMember.ReadWrite.All",
    "au": "AdministrativeUnit.ReadWrite.All",
}
ScopeKind = Literal["group", "au"]
_SCOPE = re.compile(r"^(group|au):([0-9a-fA-F]{8}(?:-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12})$")


@dataclass(frozen=True)
class MatchScope:
    """MATCH_SCOPE: `group:<object id>` or `au:<object id>` (an administrative unit)."""

    kind: ScopeKind
    id: str

    def describe(self) -> str:
        """`group 4f1c…` or `administrative unit 4f1c…`, for sentences."""
        return f"{'group' if self.kind == 'group' else 'administrative unit'} {self.id}"


def parse_scope(text: str) -> MatchScope | None:
    """MATCH_SCOPE's value: None when empty; ValueError (naming no value) when malformed."""
    text = text.strip()
    if not text:
        return None
    found = _SCOPE.match(text)
    if found is None:
        raise ValueError(
            "must be group:<object id> or au:<object id> (an administrative unit), e.g. "
            "group:00000000-0000-0000-0000-000000000000"
        )
    kind: ScopeKind = "group" if found.group(1) == "group" else "au"
    return MatchScope(kind=kind, id=found.group(2).lower())
