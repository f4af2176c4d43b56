"""The connector: packages in layers, lowest first core, lucca and entra, domain, storage, notify,
flows, runtime, cli (tests/unit/test_layers.py holds each module to them)."""
