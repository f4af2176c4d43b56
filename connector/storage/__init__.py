"""Table Storage and queues: links, schedule, leases, change feed and journal, outbox, the
integration log and the shared Lucca request budget (imports the layers below)."""
