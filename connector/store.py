"""Azure Storage access: table and queue clients built once, tables and queues made on first use."""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from azure.core.exceptions import AzureError, ResourceExistsError, ResourceNotFoundError
from azure.data.tables import TableClient, TableServiceClient
from azure.storage.queue import QueueClient, QueueServiceClient, TextBase64EncodePolicy

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential

    from connector.settings import Settings

logger = logging.getLogger(__name__)

T = TypeVar("T")

# Lucca gives up on a delivery after 3 seconds: storage calls in the intake fail fast (and
# the delivery gets a 503 that Lucca retries) rather than retry past that budget.
CLIENT_OPTIONS: dict[str, Any] = {
    "retry_total": 2,
    "retry_backoff_factor": 0.2,
    "retry_backoff_max": 1,
    "connection_timeout": 2,
    "read_timeout": 5,
}

# The queue trigger decodes messages as host.json's `extensions.queues.messageEncoding` says;
# the intake writes them in that same encoding (base64, the host's default).
QUEUE_MESSAGE_ENCODING = "base64"


class StorageUnavailable(Exception):
    """Table or queue storage could not be reached or refused the operation."""


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

    @classmethod
    def from_settings(cls, settings: Settings) -> Storage:
        """Clients for `AzureWebJobsStorage`, as a connection string or identity-based."""
        if settings.AzureWebJobsStorage is not None:
            connection = settings.AzureWebJobsStorage.get_secret_value()
            return cls(
                table_service=TableServiceClient.from_connection_string(
                    connection, **CLIENT_OPTIONS
                ),
                queue_service=QueueServiceClient.from_connection_string(
                    connection, **CLIENT_OPTIONS
                ),
            )
        credential = _managed_identity(settings.AzureWebJobsStorage__clientId)
        account = settings.AzureWebJobsStorage__accountName
        table_uri = settings.AzureWebJobsStorage__tableServiceUri
        queue_uri = settings.AzureWebJobsStorage__queueServiceUri
        return cls(
            table_service=TableServiceClient(
                endpoint=str(table_uri)
                if table_uri
                else f"https://{account}.table.core.windows.net",
                credential=credential,
                **CLIENT_OPTIONS,
            ),
            queue_service=QueueServiceClient(
                account_url=(
                    str(queue_uri) if queue_uri else f"https://{account}.queue.core.windows.net"
                ),
                credential=credential,
                **CLIENT_OPTIONS,
            ),
        )

    def table(self, name: str) -> TableClient:
        """The client of table `name` (the table itself is made on first write)."""
        with self._lock:
            if name not in self._tables:
                self._tables[name] = self._table_service.get_table_client(name)
            return self._tables[name]

    def queue(self, name: str) -> QueueClient:
        """The client of queue `name`, writing in the encoding the queue trigger expects."""
        with self._lock:
            if name not in self._queues:
                client = self._queue_service.get_queue_client(
                    name, message_encode_policy=TextBase64EncodePolicy()
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


def _translated(call: Callable[[], T]) -> T:
    """Run a storage call; a missing container → `_Missing`, any other failure →
    `StorageUnavailable`. `ResourceNotFoundError` on an entity passes through."""
    try:
        return call()
    except ResourceNotFoundError as err:
        if getattr(err, "error_code", None) in _MISSING_CODES:
            raise _Missing from err
        raise
    except ResourceExistsError:
        raise
    except AzureError as err:
        raise StorageUnavailable(type(err).__name__) from err


def _create_table(client: TableClient) -> None:
    with contextlib.suppress(ResourceExistsError):  # another instance made it first
        client.create_table()


def _create_queue(client: QueueClient) -> None:
    with contextlib.suppress(ResourceExistsError):  # another instance made it first
        client.create_queue()


def _managed_identity(client_id: str | None) -> TokenCredential:
    # Imported here: azure-identity is only needed by the identity-based form.
    from azure.identity import ManagedIdentityCredential  # noqa: PLC0415

    if client_id:
        return ManagedIdentityCredential(client_id=client_id)
    return ManagedIdentityCredential()
