"""The engines: intake, sync, worker, leavers, reconciliation, nightly run, catch-up, housekeeping
(they depend on ports and stores, never on settings)."""
