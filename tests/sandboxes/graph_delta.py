"""The Graph sandbox's `GET /users/delta`, as Graph v1.0 serves it
(https://learn.microsoft.com/graph/api/user-delta, https://learn.microsoft.com/graph/delta-query-users).

- The first request (with `$select` and `$expand=manager`, both then carried by the links) starts
  a round: every user, in pages of `DELTA_PAGE_SIZE`, each page but the last with an
  `@odata.nextLink` (`$skiptoken`), the last with an `@odata.deltaLink` (`$deltatoken`).
- The delta link, followed later, answers only what changed since: each user created or changed
  with all its selected properties (Graph's default, not `Prefer: return=minimal`), a changed or
  removed manager as `manager@delta` (a removed one with `@removed`), and a deleted user as
  `{"id": …, "@removed": {"reason": "changed"}}`.
- `$expand=manager` answers `manager@delta` (a list of `{"@odata.type", "id"}`), not `manager`.
- A token the sandbox never gave, or forgot (`expire_delta_tokens`): a 400 `syncStateNotFound`
  (Graph answers an expired token, seven days for directory objects, with a 40x error such as
  `syncStateNotFound`: https://learn.microsoft.com/graph/delta-query-overview); the client
  starts a new round.
"""

from __future__ import annotations

import base64
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlencode

from tests.sandboxes.base import RecordedRequest, Response

DELTA_PAGE_SIZE = 100  # what Graph gives a page of a users delta round with the manager expanded
DELTA_SEGMENTS = frozenset({"delta", "delta()", "microsoft.graph.delta", "microsoft.graph.delta()"})
_USER = "#microsoft.graph.user"


@dataclass
class _Round:
    """What a token stands for: the query, and the directory as the round left it."""

    select: list[str] | None
    expanded: bool
    seen: dict[str, tuple[Any, str | None]] = field(default_factory=dict)  # id → (user, manager)
    pending: list[dict[str, Any]] = field(default_factory=list)  # a round's pages still to give


class DeltaMixin:
    """`GET /users/delta` over the sandbox's users and managers (see the module docstring)."""

    _users: dict[str, dict[str, Any]]
    _managers: dict[str, str]
    _project: Callable[..., dict[str, Any]]
    _context: Callable[[str], str]
    _ok: Callable[..., Response]
    _graph_error: Callable[[int, str, str], Exception]
    _select_expand: Callable[[RecordedRequest], tuple[list[str] | None, list[str] | None]]
    base_url: str

    def _reset_delta(self) -> None:
        self._delta_tokens: dict[str, _Round] = {}
        self._delta_counter = itertools.count(1)

    def expire_delta_tokens(self) -> None:
        """Forget every token given (as Graph does after a while): links to them answer 400."""
        self._delta_tokens.clear()

    def _users_delta(self, request: RecordedRequest) -> Response:
        skip, delta = request.param("$skiptoken"), request.param("$deltatoken")
        if skip is not None or delta is not None:
            state = self._delta_tokens.get(skip if skip is not None else str(delta))
            if state is None:
                raise self._graph_error(400, "syncStateNotFound", "The sync state is not found.")
            if delta is not None:  # a new round: what changed since the token's state
                state = self._changes(state)
        else:
            select, expand = self._select_expand(request)
            state = self._changes(_Round(select=select, expanded=expand is not None))
        page, rest = state.pending[:DELTA_PAGE_SIZE], state.pending[DELTA_PAGE_SIZE:]
        token = base64.urlsafe_b64encode(f"sandbox-delta:{next(self._delta_counter)}".encode())
        following = _Round(select=state.select, expanded=state.expanded, seen=state.seen)
        following.pending = rest
        self._delta_tokens[token.decode()] = following
        name = "$skiptoken" if rest else "$deltatoken"
        query = urlencode({name: token.decode()}, quote_via=quote, safe="$")
        link = f"{self.base_url}{request.path}?{query}"
        fragment = f"users({','.join(state.select)})" if state.select else "users"
        payload: dict[str, Any] = {"@odata.context": self._context(fragment)}
        payload["@odata.nextLink" if rest else "@odata.deltaLink"] = link
        payload["value"] = page
        return self._ok(payload)

    def _changes(self, since: _Round) -> _Round:
        """The users created, changed or deleted since `since` (everyone, for a new round)."""
        now: dict[str, tuple[Any, str | None]] = {}
        items: list[dict[str, Any]] = []
        for user_id, user in self._users.items():
            shown = self._project(user, since.select)
            shown.pop("manager", None)
            manager = self._managers.get(user_id) if since.expanded else None
            manager = manager if manager in self._users else None
            now[user_id] = (shown, manager)
            before = since.seen.get(user_id)
            if before == (shown, manager):
                continue
            item: dict[str, Any] = dict(shown)
            item["id"] = user_id
            old_manager = before[1] if before is not None else None
            if since.expanded and manager != old_manager:
                delta: list[dict[str, Any]] = []
                if old_manager is not None:
                    delta.append({"@odata.type": _USER, "id": old_manager, "@removed": {}})
                if manager is not None:
                    delta.append({"@odata.type": _USER, "id": manager})
                item["manager@delta"] = delta
            items.append(item)
        items += [
            {"id": gone, "@removed": {"reason": "changed"}} for gone in since.seen.keys() - now
        ]
        return _Round(select=since.select, expanded=since.expanded, seen=now, pending=items)
