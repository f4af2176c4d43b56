"""Which Azure credential the connector uses: light to import (the webhook's storage may need
it on a cold start), so azure-identity itself is imported only when a credential is made."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from azure.identity import DefaultAzureCredential, ManagedIdentityCredential

# Environment variables the Functions platform (App Service) sets when a managed identity is on.
MANAGED_IDENTITY_ENV = ("IDENTITY_ENDPOINT", "MSI_ENDPOINT")


def azure_credential(
    client_id: str | None = None, environ: Mapping[str, str] | None = None
) -> ManagedIdentityCredential | DefaultAzureCredential:
    """The credential for Graph, ACS and storage: the managed identity in Azure (`client_id`
    picks a user-assigned one, as the Bicep deploys), else DefaultAzureCredential."""
    # In Azure the platform sets IDENTITY_ENDPOINT: asking the managed identity directly is
    # deterministic and fast, where DefaultAzureCredential would first probe environment
    # secrets and workload identity, which may pick a different principal than the one the
    # Bicep granted Graph roles to. Elsewhere (a developer machine, CI) DefaultAzureCredential
    # takes a client secret from AZURE_TENANT_ID/AZURE_CLIENT_ID/AZURE_CLIENT_SECRET, or the
    # Azure CLI login.
    from azure.identity import DefaultAzureCredential, ManagedIdentityCredential  # noqa: PLC0415

    env = os.environ if environ is None else environ
    if any(env.get(name) for name in MANAGED_IDENTITY_ENV):
        return ManagedIdentityCredential(client_id=client_id or None)
    return DefaultAzureCredential()
