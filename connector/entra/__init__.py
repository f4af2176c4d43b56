"""Microsoft Entra ID through Microsoft Graph: the client and the directory facade (imports
core)."""
