"""Azure Storage access: table and queue clients built once, tables and queues made on first use."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar, cast

from azure.core.exceptions import (
    AzureError,
    HttpResponseError,
    ResourceExistsError,
    ResourceModifiedError,
    ResourceNotFoundError,
)
from azure.data.tables import TableClient, TableEntity, TableServiceClient, TableTransactionError
from azure.storage.queue import QueueClient, QueueServiceClient, TextBase64EncodePolicy

from connector.core.errors import Transient

T = TypeVar("T")

# Lucca gives up on a delivery after 3 seconds: the intake's storage calls fail fast (and
# the delivery gets a 503 that Lucca retries) rather than retry past that budget.
INTAKE_OPTIONS: dict[str, Any] = {
    "retry_total": 1,
    "retry_backoff_factor": 0.1,
    "retry_backoff_max": 0.2,
    "connection_timeout": 1,
    "read_timeout": 1,
}
# The sync and the timers have minutes: they ride out a storage blip instead.
WORKER_OPTIONS: dict[str, Any] = {
    "retry_total": 4,
    "retry_backoff_factor": 0.5,
    "retry_backoff_max": 8,
    "connection_timeout": 5,
    "read_timeout": 20,
}

# The queue trigger decodes messages as host.json's `extensions.queues.messageEncoding` says;
# the intake writes them in that same encoding (base64, the host's default).
QUEUE_MESSAGE_ENCODING = "base64"
_ENCODE_POLICIES = {"base64": TextBase64EncodePolicy, "none": None}


# Azure Tables takes at most 64 KiB a string property (UTF-16) and 1 MiB an entity
# (https://learn.microsoft.com/rest/api/storageservices/understanding-the-table-service-data-model
# #property-types): every write through `Storage` cuts values to fit, under these margins,
# so an oversized Lucca value can never make a write (an integration log entry) fail.
MAX_STRING_BYTES = 64_000
MAX_ENTITY_BYTES = 960_000
CUT_MARKER = "… [cut]"
_KEYS = ("PartitionKey", "RowKey")


def utf16_bytes(text: str) -> int:
    """The size of `text` as Azure Tables stores it."""
    return len(text.encode("utf-16-le"))


def cut_text(text: str, max_bytes: int = MAX_STRING_BYTES) -> str:
    """`text` if it fits in `max_bytes` (UTF-16), else its beginning ending in CUT_MARKER."""
    if utf16_bytes(text) <= max_bytes:
        return text
    room = max(max_bytes - utf16_bytes(CUT_MARKER), 0) // 2
    kept = text[:room]
    while utf16_bytes(kept) > room * 2:  # characters beyond the BMP take 4 bytes
        kept = kept[:-1]
    return kept + CUT_MARKER


def _size(name: str, value: Any) -> int:
    """An estimate of one property's share of the entity (Azure's formula, rounded up)."""
    if isinstance(value, bytes):  # binary: its length and 4
        return 8 + utf16_bytes(name) + len(value) + 4
    body = utf16_bytes(value) + 4 if isinstance(value, str) else len(str(value)) + 8
    return 8 + utf16_bytes(name) + body


def bounded(entity: Mapping[str, Any]) -> dict[str, Any]:
    """The entity with every string value cut to MAX_STRING_BYTES, then its largest values
    cut further until the whole fits in MAX_ENTITY_BYTES (keys are never cut)."""
    result = {
        k: cut_text(v) if isinstance(v, str) and k not in _KEYS else v for k, v in entity.items()
    }
    while sum(_size(k, v) for k, v in result.items()) > MAX_ENTITY_BYTES:
        name = max(
            (k for k, v in result.items() if isinstance(v, str) and k not in _KEYS),
            key=lambda k: utf16_bytes(result[k]),
        )
        result[name] = cut_text(result[name], utf16_bytes(result[name]) // 2)
    if isinstance(entity, TableEntity):  # keep the ETag an `update_entity` may rely on
        kept = TableEntity(result)
        kept._metadata = entity.metadata
        return kept
    return result


class _BoundedTable:
    """A table client whose every write is `bounded` first; everything else passes through."""

    def __init__(self, client: TableClient) -> None:
        self._client = client

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def create_entity(self, entity: Mapping[str, Any], **kwargs: Any) -> Any:
        """`TableClient.create_entity`, bounded."""
        return self._client.create_entity(bounded(entity), **kwargs)

    def upsert_entity(self, entity: Mapping[str, Any], *args: Any, **kwargs: Any) -> Any:
        """`TableClient.upsert_entity`, bounded."""
        return self._client.upsert_entity(bounded(entity), *args, **kwargs)

    def update_entity(self, entity: Mapping[str, Any], *args: Any, **kwargs: Any) -> Any:
        """`TableClient.update_entity`, bounded."""
        return self._client.update_entity(bounded(entity), *args, **kwargs)

    def submit_transaction(self, operations: Iterable[Any], **kwargs: Any) -> Any:
        """`TableClient.submit_transaction`, each operation's entity bounded."""
        return self._client.submit_transaction(
            [_bounded_operation(o) for o in operations], **kwargs
        )


def _bounded_operation(operation: Any) -> Any:
    """One transaction operation, `(kind, entity[, options])`, its entity bounded."""
    kind, entity, *rest = operation
    return (kind, bounded(entity), *rest)


class StorageUnavailable(Transient):
    """Table or queue storage could not be reached, or refused the operation."""

    def __init__(self, message: str, *, status: int | None = None, code: str | None = None):
        super().__init__(message, service="storage", status=status, code=code)


def _describe(err: AzureError) -> StorageUnavailable:
    """An actionable sentence for a storage failure (never a key or a connection string)."""
    status = getattr(err, "status_code", None)
    code = str(getattr(err, "error_code", None) or "") or None
    if status == 403:
        return StorageUnavailable(
            "storage refused access (403 "
            f"{code or 'Forbidden'}): give the Function App's identity the Storage Table Data "
            "Contributor and Storage Queue Data Contributor roles, or check the connection string",
            status=status,
            code=code,
        )
    if status is not None:
        return StorageUnavailable(
            f"storage answered {status} {code or ''}".rstrip(), status=status, code=code
        )
    return StorageUnavailable(f"storage unreachable ({type(err).__name__})")


class Storage:
    """The storage account's tables and queues, through one set of clients per worker."""

    def __init__(
        self,
        *,
        table_service: TableServiceClient,
        queue_service: QueueServiceClient,
    ) -> None:
        self._table_service = table_service
        self._queue_service = queue_service
        self._tables: dict[str, TableClient] = {}
        self._queues: dict[str, QueueClient] = {}
        self._lock = threading.Lock()

    def table(self, name: str) -> TableClient:
        """The client of table `name` (the table itself is made on first write)."""
        with self._lock:
            if name not in self._tables:
                client = self._table_service.get_table_client(name)
                self._tables[name] = cast(TableClient, _BoundedTable(client))
            return self._tables[name]

    def queue(self, name: str) -> QueueClient:
        """The client of queue `name`, writing in the encoding the queue trigger expects."""
        with self._lock:
            if name not in self._queues:
                policy = _ENCODE_POLICIES[QUEUE_MESSAGE_ENCODING]
                client = self._queue_service.get_queue_client(
                    name, message_encode_policy=policy() if policy else None
                )
                self._queues[name] = client
            return self._queues[name]

    def on_table(self, name: str, operation: Callable[[TableClient], T]) -> T:
        """Run `operation` on table `name`, making the table if it does not exist yet."""
        client = self.table(name)
        try:
            return _translated(lambda: operation(client))
        except _Missing:
            _translated(lambda: _create_table(client))
            return _translated(lambda: operation(client))

    def on_queue(self, name: str, operation: Callable[[QueueClient], T]) -> T:
        """Run `operation` on queue `name`, making the queue if it does not exist yet."""
        client = self.queue(name)
        try:
            return _translated(lambda: operation(client))
        except _Missing:
            _translated(lambda: _create_queue(client))
            return _translated(lambda: operation(client))

    def read(self, table: str, partition: str, row: str) -> TableEntity | None:
        """One entity by its keys (its ETag in `.metadata`), or None (a point read)."""

        def get(client: TableClient) -> TableEntity | None:
            try:
                return client.get_entity(partition, row)
            except ResourceNotFoundError as err:
                if _missing_container(err):
                    raise  # the table itself is missing: `on_table` makes it
                return None

        return self.on_table(table, get)

    def delete(self, table: str, partition: str, row: str) -> None:
        """Delete one entity (nothing happens when it does not exist)."""
        self.on_table(table, lambda t: t.delete_entity(partition, row))

    def close(self) -> None:
        """Close every client."""
        for table in self._tables.values():
            table.close()
        for queue in self._queues.values():
            queue.close()
        self._table_service.close()
        self._queue_service.close()


class _Missing(Exception):
    """The table or queue does not exist."""


_MISSING_CODES = frozenset({"TableNotFound", "QueueNotFound"})


# Answers about the data itself, which callers handle: not an outage.
_DATA_ERRORS = (
    ResourceExistsError,
    ResourceModifiedError,
    ResourceNotFoundError,
    TableTransactionError,
)


def _missing_container(err: HttpResponseError) -> bool:
    """The table or queue itself is missing (some SDK calls leave `error_code` unset)."""
    if getattr(err, "error_code", None) in _MISSING_CODES:
        return True
    try:
        text = err.response.text() if err.response is not None else ""
    except Exception:  # an unreadable body: not the container
        return False
    return any(f'"{code}"' in text or f"<Code>{code}</Code>" in text for code in _MISSING_CODES)


def _translated(call: Callable[[], T]) -> T:
    """Run a storage call: a missing table or queue → `_Missing`; an answer about the data
    (exists, modified, not found, transaction refused) passes through; any other failure →
    `StorageUnavailable`."""
    try:
        return call()
    except (ResourceNotFoundError, TableTransactionError) as err:
        if _missing_container(err):  # a transaction on a missing table says so too
            raise _Missing from err
        raise
    except _DATA_ERRORS:
        raise
    except AzureError as err:
        raise _describe(err) from err


def _create_table(client: TableClient) -> None:
    with contextlib.suppress(ResourceExistsError):  # another instance made it first
        client.create_table()


def _create_queue(client: QueueClient) -> None:
    with contextlib.suppress(ResourceExistsError):  # another instance made it first
        client.create_queue()
