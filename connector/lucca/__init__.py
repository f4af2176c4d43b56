"""Lucca: its documents, its API client and its webhook signature and envelope (imports core)."""
