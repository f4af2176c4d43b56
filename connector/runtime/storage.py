"""Storage from the settings: the light corner of the composition root, which the webhook's
cold start imports (no Graph SDK, httpx or email client)."""

from __future__ import annotations

from azure.data.tables import TableServiceClient
from azure.storage.queue import QueueServiceClient

from connector.runtime.identity import azure_credential
from connector.runtime.storage_settings import StorageSettings
from connector.storage.tables import INTAKE_OPTIONS, WORKER_OPTIONS, Storage


def storage_from_settings(settings: StorageSettings, *, fast: bool = False) -> Storage:
    """Clients for `AzureWebJobsStorage`, as a connection string or identity-based; `fast` for
    the webhook, which must answer within Lucca's 3 seconds."""
    options = INTAKE_OPTIONS if fast else WORKER_OPTIONS
    if settings.AzureWebJobsStorage is not None:
        connection = settings.AzureWebJobsStorage.get_secret_value()
        return Storage(
            table_service=TableServiceClient.from_connection_string(connection, **options),
            queue_service=QueueServiceClient.from_connection_string(connection, **options),
        )
    # The managed identity in Azure; elsewhere (the command line on an administrator's
    # machine) DefaultAzureCredential, e.g. the Azure CLI login.
    credential = azure_credential(
        settings.AzureWebJobsStorage__clientId or settings.AZURE_CLIENT_ID
    )
    account = settings.AzureWebJobsStorage__accountName
    table_uri = settings.AzureWebJobsStorage__tableServiceUri
    queue_uri = settings.AzureWebJobsStorage__queueServiceUri
    return Storage(
        table_service=TableServiceClient(
            endpoint=str(table_uri) if table_uri else f"https://{account}.table.core.windows.net",
            credential=credential,
            **options,
        ),
        queue_service=QueueServiceClient(
            account_url=(
                str(queue_uri) if queue_uri else f"https://{account}.queue.core.windows.net"
            ),
            credential=credential,
            **options,
        ),
    )
