"""The Graph sandbox's deleted users (Entra's recycle bin), as Graph v1.0 serves them.

- Deleting a user (`delete_user`, as an administrator would) moves it to deleted items with a
  `deletedDateTime`; it keeps its `userPrincipalName`, mail and proxy addresses, so a
  `POST /users` with its login still answers `ObjectConflict`, while `GET /users/{upn}` and
  `GET /users?$filter=...` no longer find it
  (https://learn.microsoft.com/graph/api/user-delete: "moved to a temporary container").
- `GET /directory/deletedItems/microsoft.graph.user` (or `graph.user`, as the SDK asks) with
  `$filter`, `$select` (which may name `deletedDateTime`) and `$top` (https://learn.microsoft.com/graph/api/directory-deleteditems-list:
  the OData cast is required; least permission User.Read.All).
- `GET /directory/deletedItems/{id}` (404 `Request_ResourceNotFound` if none).
- `POST /directory/deletedItems/{id}/restore`: 200 with the `directoryObject` (same object id),
  back in `/users` (https://learn.microsoft.com/graph/api/directory-deleteditems-restore: least
  permission User.DeleteRestore.All for users); 400 `ObjectConflict` if an active user took its
  login meanwhile; 403 `Authorization_RequestDenied` after `deny(id, "RESTORE")` (the
  identity lacks the permission, or the account holds an administrator role).
- `DELETE /directory/deletedItems/{id}`: 204, gone for good
  (https://learn.microsoft.com/graph/api/directory-deleteditems-delete).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from tests.sandboxes.base import RecordedRequest, Response

DELETED = ["directory", "deletedItems"]
# The OData cast, in full or as the msgraph-sdk writes it (Graph takes both).
USER_CASTS = ("microsoft.graph.user", "graph.user")


class DeletedMixin:
    """Deleted users for `GraphSandbox`, which supplies `_users`, `_managers`, `_lock`, `_ok`,
    `_context`, `_project`, and Graph's errors (`_graph_error`, `_missing`)."""

    _users: dict[str, dict[str, Any]]
    _managers: dict[str, str]
    _lock: Any
    _ok: Callable[..., Response]
    _context: Callable[[str], str]
    _project: Callable[..., dict[str, Any]]
    _graph_error: Callable[[int, str, str], Exception]
    _missing: Callable[[str], Exception]
    _extensions: dict[str, str]
    _denied: set[tuple[str, str | None]]

    def _reset_deleted(self) -> None:
        self._deleted: dict[str, dict[str, Any]] = {}

    # -- state for tests --------------------------------------------------------------------
    def delete_user(
        self, user_id: str, *, at: datetime | None = None, permanently: bool = False
    ) -> None:
        """Delete a user as an administrator would: to deleted items (its manager link goes);
        `permanently`: then from deleted items too (its login is free again)."""
        when = (at or datetime.now(UTC)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        with self._lock:
            user = self._users.pop(user_id)
            self._managers.pop(user_id, None)
            if not permanently:
                self._deleted[user_id] = {**user, "deletedDateTime": when}

    def restore_by_hand(self, user_id: str) -> None:
        """Restore a deleted user as an administrator would in Entra (same object id)."""
        with self._lock:
            user = self._deleted.pop(user_id)
            self._users[user_id] = {k: v for k, v in user.items() if k != "deletedDateTime"}

    def deleted_user(self, user_id: str) -> dict[str, Any]:
        """A copy of a deleted user (KeyError if it is not in deleted items)."""
        with self._lock:
            return copy.deepcopy(self._deleted[user_id])

    def _deleted_values(self) -> list[dict[str, Any]]:
        """The deleted users: they still hold their addresses (ObjectConflict on a create)."""
        return list(self._deleted.values())

    # -- routes -----------------------------------------------------------------------------
    def _deleted_routes(self) -> dict[tuple[str, ...], dict[str, Callable[..., Response]]]:
        return {
            **{(*DELETED, cast): {"GET": self._list_deleted} for cast in USER_CASTS},
            (*DELETED, "*"): {"GET": self._get_deleted, "DELETE": self._purge_deleted},
            (*DELETED, "*", "restore"): {"POST": self._restore_deleted},
        }

    def _list_deleted(self, request: RecordedRequest) -> Response:
        from tests.sandboxes.graph import (  # noqa: PLC0415 (graph.py imports this module)
            FilterParser,
            _option,
            _parse_select,
            _parse_top,
        )

        select = _parse_select(_option(request, "select"), extensions=self._extensions)
        top = _parse_top(_option(request, "top"))
        advanced = (request.header("ConsistencyLevel") or "").lower() == "eventual" and (
            (_option(request, "count") or "").lower() == "true"
        )
        matching = list(self._deleted.values())
        raw_filter = _option(request, "filter")
        if raw_filter:
            predicate = FilterParser(raw_filter, advanced=advanced).parse()
            matching = [u for u in matching if predicate(u)]
        fragment = "directory/deletedItems/microsoft.graph.user"
        payload: dict[str, Any] = {"@odata.context": self._context(fragment)}
        if advanced:
            payload["@odata.count"] = len(matching)
        payload["value"] = [self._shown(u, select) for u in matching[:top]]
        return self._ok(payload)

    def _shown(self, user: dict[str, Any], select: list[str] | None) -> dict[str, Any]:
        shown = self._project(user, select)
        if select is None or "deletedDateTime" in select:
            shown["deletedDateTime"] = user["deletedDateTime"]
        return shown

    def _deleted_item(self, item_id: str) -> dict[str, Any]:
        user = self._deleted.get(item_id)
        if user is None:
            raise self._graph_error(
                404,
                "Request_ResourceNotFound",
                f"Resource '{item_id}' does not exist or one of its queried reference-property "
                "objects are not present.",
            )
        return user

    def _get_deleted(self, request: RecordedRequest, item_id: str) -> Response:
        from tests.sandboxes.graph import _option, _parse_select  # noqa: PLC0415

        user = self._deleted_item(item_id)
        select = _parse_select(_option(request, "select"), extensions=self._extensions)
        body = {
            "@odata.context": self._context("directoryObjects/$entity"),
            "@odata.type": "#microsoft.graph.user",
            **self._shown(user, select),
        }
        return self._ok(body)

    def _restore_deleted(self, request: RecordedRequest, item_id: str) -> Response:
        user = self._deleted_item(item_id)
        if (item_id, "RESTORE") in self._denied:
            message = "Insufficient privileges to complete the operation."
            raise self._graph_error(403, "Authorization_RequestDenied", message)
        login = str(user.get("userPrincipalName") or "").lower()
        if any(
            str(u.get("userPrincipalName") or "").lower() == login for u in self._users.values()
        ):
            raise self._graph_error(
                400,
                "Request_BadRequest",
                "Another object with the same value for property userPrincipalName already exists.",
            )
        del self._deleted[item_id]
        restored = {k: v for k, v in user.items() if k != "deletedDateTime"}
        self._users[item_id] = restored
        body = {
            "@odata.context": self._context("directoryObjects/$entity"),
            "@odata.type": "#microsoft.graph.user",
            **self._project(restored, None),
        }
        return self._ok(body)

    def _purge_deleted(self, request: RecordedRequest, item_id: str) -> Response:
        self._deleted_item(item_id)
        del self._deleted[item_id]
        return self._ok()
