"""Loopback HTTP sandboxes that stand in for Lucca and Microsoft Graph in tests."""
