"""The daily housekeeping: purges the event journal, the integration log and the outbox by age.

Every purge reads only what it removes (plus a few rows it must look at to keep), never the
whole table, so a daily run costs O(rows purged + days): the journal and the log are queried by
a PartitionKey range of old days, the outbox by the RowKey ranges of its finished kinds. It
touches no account, and deletes are idempotent: a run that stops midway (a crash, storage
unavailable) leaves what remains for the next run to find.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import groupby
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import ResourceModifiedError, ResourceNotFoundError
from azure.data.tables import TableClient, TableEntity, TableTransactionError

from connector.core.clock import utc_now
from connector.domain.notices import Kind
from connector.domain.scheduled import instant_key
from connector.storage.changes import JOURNAL_TABLE, journal_partition
from connector.storage.log import (
    ATTENTION_PARTITION,
    CONFLICTS_PARTITION,
    LOG_TABLE,
    day_partition,
    employee_partition,
)
from connector.storage.outbox_rows import (
    DIGEST_PREFIX,
    INTENT_PREFIX,
    KEY_PREFIX,
    OUTBOX_TABLE,
    PARTITION,
    WAIT_PREFIX,
)
from connector.storage.schedule import (
    DISABLED_PARTITION,
    ENTERED_ALERT_PREFIX,
    ENTERED_PARTITION,
    RUNS_PARTITION,
    SCHEDULE_TABLE,
)
from connector.storage.tables import Storage, StorageUnavailable

# Lucca keeps its events two months: a redelivery older than that cannot come, so neither the
# journal row that recognises it nor the outbox rows that keep its email to one are needed.
JOURNAL_RETENTION = timedelta(days=60)
# The states `Outbox.settle` leaves on a key row: the notice is done with (sent, in a digest,
# given up, or a daily digest with nothing to tell). Any other state is kept.
SETTLED_STATES = frozenset({"sent", "digested", "failed", "empty"})
# Table Storage: a transaction holds at most 100 operations, all in one partition.
# https://learn.microsoft.com/en-us/rest/api/storageservices/performing-entity-group-transactions
TRANSACTION_MAX = 100
# The daily cap counts one local day's rows (connector/flows/holds.py): a week is plenty.
COUNT_RETENTION = timedelta(days=7)
PAGE_SIZE = 1000

_Row = tuple[str, str | None]  # RowKey, and the ETag the delete is conditional on (None: none)


@dataclass(frozen=True, kw_only=True)
class HousekeepingReport:
    """What one housekeeping run removed (counts only: no ids, no personal data)."""

    journal_rows: int = 0
    log_entries: int = 0  # integration log entries, each counted once
    log_rows: int = 0  # their rows in every view (day, employee, attention)
    outbox_rows: int = 0
    schedule_rows: int = 0  # the daily cap's count rows and alert markers

    def summary(self) -> str:
        """One line for the Functions log."""
        return (
            f"purged {self.journal_rows} journal rows, {self.log_entries} log entries "
            f"({self.log_rows} rows), {self.outbox_rows} outbox rows, "
            f"{self.schedule_rows} count rows"
        )


class Housekeeping:
    """Deletes what is older than its retention: journal rows after `JOURNAL_RETENTION`, log
    entries after `log_retention_days`, finished outbox rows after `JOURNAL_RETENTION`."""

    def __init__(
        self,
        storage: Storage,
        *,
        log_retention_days: int,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._storage = storage
        self._log_retention = timedelta(days=log_retention_days)
        self._clock = clock

    def run(self) -> HousekeepingReport:
        """Purge the three tables; `StorageUnavailable` stops the run (the next one resumes)."""
        now = self._clock().astimezone(UTC)
        journal_rows = self._purge_journal(now - JOURNAL_RETENTION)
        log_entries, log_rows = self._purge_log(now - self._log_retention)
        outbox_rows = self._purge_outbox(now - JOURNAL_RETENTION)
        return HousekeepingReport(
            journal_rows=journal_rows,
            log_entries=log_entries,
            log_rows=log_rows,
            outbox_rows=outbox_rows,
            schedule_rows=self._purge_counts(now - COUNT_RETENTION),
        )

    # -- event journal ----------------------------------------------------------------------
    def _purge_journal(self, cutoff: datetime) -> int:
        """Delete the days strictly before the cutoff's UTC day (`YYYY-MM-DD` sorts as dates)."""
        deleted = 0
        pages = self._pages(
            JOURNAL_TABLE,
            "PartitionKey lt @cutoff",
            {"cutoff": journal_partition(cutoff)},
            ["PartitionKey", "RowKey"],
        )
        for page in pages:
            for partition, rows in _by_partition(page):
                deleted += self._delete(
                    JOURNAL_TABLE, partition, [(r["RowKey"], None) for r in rows]
                )
        return deleted

    # -- the daily cap's counts --------------------------------------------------------------
    def _purge_counts(self, cutoff: datetime) -> int:
        """Delete the rows counting disables entered and carried out before the cutoff (their
        RowKeys start with the instant), and the alert markers of the days before it."""
        deleted = 0
        ranges = [
            (partition, "", instant_key(cutoff))
            for partition in (ENTERED_PARTITION, DISABLED_PARTITION)
        ]
        day = cutoff.date().isoformat()
        ranges.append((RUNS_PARTITION, ENTERED_ALERT_PREFIX, ENTERED_ALERT_PREFIX + day))
        for partition, lower, upper in ranges:
            pages = self._pages(
                SCHEDULE_TABLE,
                "PartitionKey eq @p and RowKey ge @lower and RowKey lt @upper",
                {"p": partition, "lower": lower, "upper": upper},
                ["PartitionKey", "RowKey"],
            )
            for page in pages:
                rows = [(r["RowKey"], None) for r in page]
                deleted += self._delete(SCHEDULE_TABLE, partition, rows)
        return deleted

    # -- integration log --------------------------------------------------------------------
    def _purge_log(self, cutoff: datetime) -> tuple[int, int]:
        """Delete the entries of the days strictly before the cutoff's UTC day, from every view
        but `open-conflicts` (a live list, closed by later syncs, not by age). The day row goes
        last: a run that stops midway finds it next time, and with it the copies left."""
        entries = rows_deleted = 0
        pages = self._pages(
            LOG_TABLE,
            # `day-…` partitions sort between `attention` and `employee-…`: only they match.
            "PartitionKey ge @first and PartitionKey lt @cutoff",
            {"first": "day-", "cutoff": day_partition(cutoff)},
            ["PartitionKey", "RowKey", "EmployeeId"],
        )
        for page in pages:
            for day, day_rows in _by_partition(page):
                for chunk in _chunks(day_rows, TRANSACTION_MAX):
                    rows_deleted += self._delete_copies(chunk)
                    deleted = self._delete(LOG_TABLE, day, [(r["RowKey"], None) for r in chunk])
                    entries += deleted
                    rows_deleted += deleted
        return entries, rows_deleted

    def _delete_copies(self, day_rows: Sequence[TableEntity]) -> int:
        """Delete the employee and attention copies of these entries of one day."""
        deleted = 0
        keys = sorted(str(r["RowKey"]) for r in day_rows)
        by_employee = sorted(
            (employee_partition(str(r["EmployeeId"])), str(r["RowKey"]))
            for r in day_rows
            if r.get("EmployeeId")
        )
        for partition, pairs in groupby(by_employee, key=lambda pair: pair[0]):
            deleted += self._delete(LOG_TABLE, partition, [(key, None) for _, key in pairs])
        # Which entries are in `attention` is asked of the table itself (a range query on the
        # keys of this chunk), not worked out from the action: the rule may have changed since.
        attention = self._query(
            LOG_TABLE,
            "PartitionKey eq @p and RowKey ge @lo and RowKey le @hi",
            {"p": ATTENTION_PARTITION, "lo": keys[0], "hi": keys[-1]},
            ["RowKey"],
        )
        mine = set(keys)
        copies = [(str(r["RowKey"]), None) for r in attention if r["RowKey"] in mine]
        deleted += self._delete(LOG_TABLE, ATTENTION_PARTITION, copies)
        return deleted

    # -- outbox -----------------------------------------------------------------------------
    # Finished outbox rows only guard against doing something twice: a key row keeps a
    # redelivered event, a retried sync or a re-run leaver action from sending its email again,
    # and all of those come within hours or days, never after Lucca's 60 days. So they go after
    # `JOURNAL_RETENTION`, not after the (longer) log retention: the integration log is what the
    # administrator reads, the outbox is not. They hold ids and a state, no names.
    def _purge_outbox(self, cutoff: datetime) -> int:
        """Delete key rows settled before the cutoff and creation intents written before it.
        Never a waiting notice (`wait-` row, or its key row), a digest being sent (`digest-`
        row, or the key rows it covers) or the `rate` row. Cost: O(key rows kept), which the
        purge itself bounds to about 60 days of notices (the keys do not sort by age)."""
        busy = self._waiting_keys() | self._digested_keys()
        doomed: list[_Row] = []
        for row in self._range(KEY_PREFIX, ["RowKey", "State", "SettledAt", "Kind", "EmployeeId"]):
            key = str(row["RowKey"]).removeprefix(KEY_PREFIX)
            settled_at = row.get("SettledAt")
            if (
                row.get("State") in SETTLED_STATES
                and isinstance(settled_at, datetime)
                and settled_at < cutoff
                and key not in busy
                and not self._conflict_still_open(row)
            ):
                doomed.append((str(row["RowKey"]), _etag(row)))
        # An intent explains, for a day (`INTENT_TRUSTED_FOR`), an account found by its anchor
        # after a sync stopped between the POST and the notice; after that it is never read.
        for row in self._range(INTENT_PREFIX, ["RowKey", "At"]):
            written_at = row.get("At")
            if isinstance(written_at, datetime) and written_at < cutoff:
                doomed.append((str(row["RowKey"]), _etag(row)))
        return self._delete(OUTBOX_TABLE, PARTITION, doomed)

    def _conflict_still_open(self, row: TableEntity) -> bool:
        """An "account not created" notice is raised again by every sync that meets the same
        conflict: its key row stays while the employee's conflict is open, or the email would
        be sent again."""
        if row.get("Kind") != Kind.NOT_CREATED.value or not row.get("EmployeeId"):
            return False
        return (
            self._storage.read(LOG_TABLE, CONFLICTS_PARTITION, str(row["EmployeeId"])) is not None
        )

    def _waiting_keys(self) -> set[str]:
        return {str(r["RowKey"]).removeprefix(WAIT_PREFIX) for r in self._range(WAIT_PREFIX)}

    def _digested_keys(self) -> set[str]:
        keys: set[str] = set()
        for row in self._range(DIGEST_PREFIX, ["RowKey", "Keys"]):
            keys.update(str(k) for k in json.loads(row.get("Keys") or "[]"))
        return keys

    def _range(self, prefix: str, select: list[str] | None = None) -> list[TableEntity]:
        """The outbox rows whose RowKey starts with `prefix` (one range query)."""
        return self._query(
            OUTBOX_TABLE,
            "PartitionKey eq @p and RowKey ge @lo and RowKey lt @hi",
            {"p": PARTITION, "lo": prefix, "hi": prefix[:-1] + "."},
            select or ["RowKey"],
        )

    # -- reading and deleting ---------------------------------------------------------------
    def _query(
        self, table: str, query: str, parameters: dict[str, str], select: list[str]
    ) -> list[TableEntity]:
        return [row for page in self._pages(table, query, parameters, select) for row in page]

    def _pages(
        self, table: str, query: str, parameters: dict[str, str], select: list[str]
    ) -> Iterator[list[TableEntity]]:
        """The query's results a page at a time, each page fetched through `Storage` (its
        errors translated). The continuation is by key, so deleting a page's rows before
        fetching the next one is safe."""
        token: Any = None
        while True:

            def fetch(client: TableClient, after: Any = token) -> tuple[list[TableEntity], Any]:
                pager = client.query_entities(
                    query, parameters=parameters, select=select, results_per_page=PAGE_SIZE
                ).by_page(continuation_token=after)
                page = next(pager, None)
                return (list(page) if page is not None else []), getattr(
                    pager, "continuation_token", None
                )

            rows, token = self._storage.on_table(table, fetch)
            if rows:
                yield rows
            if not token:
                return

    def _delete(self, table: str, partition: str, rows: Sequence[_Row]) -> int:
        """Delete rows of one partition, in transactions of at most 100; how many were there
        to delete. A transaction refused (a row already gone, or changed since it was read)
        is done again one row at a time, so each row is judged alone."""
        deleted = 0
        for chunk in _chunks(rows, TRANSACTION_MAX):
            if self._transaction(table, [_delete_op(partition, row) for row in chunk]):
                deleted += len(chunk)
            else:
                deleted += sum(
                    self._transaction(table, [_delete_op(partition, row)]) for row in chunk
                )
        return deleted

    def _transaction(self, table: str, operations: list[Any]) -> bool:
        """Submit the operations; False if the table refused them as a whole because a row
        was missing (404) or changed (412), which the caller may take as "not to delete"."""
        try:
            self._storage.on_table(table, lambda client: client.submit_transaction(operations))
        except (ResourceNotFoundError, ResourceModifiedError):
            return False
        except TableTransactionError as err:
            if err.status_code in (404, 412):
                return False
            code = getattr(err, "error_code", None)
            raise StorageUnavailable(
                f"storage refused a delete transaction ({err.status_code} {code or 'error'})",
                status=err.status_code,
                code=str(code) if code else None,
            ) from err
        return True


def _delete_op(partition: str, row: _Row) -> tuple[Any, ...]:
    """A transaction's delete of one row, conditional on its ETag when it has one (a row
    written again since it was read is left alone)."""
    key, etag = row
    entity = {"PartitionKey": partition, "RowKey": key}
    if etag is None:
        return ("delete", entity)
    return ("delete", entity, {"etag": etag, "match_condition": MatchConditions.IfNotModified})


def _etag(row: TableEntity) -> str:
    return str(row.metadata["etag"])


def _by_partition(rows: Iterable[TableEntity]) -> Iterator[tuple[str, list[TableEntity]]]:
    """Rows grouped by partition (a query returns them sorted by PartitionKey)."""
    for partition, group in groupby(rows, key=lambda row: str(row["PartitionKey"])):
        yield partition, list(group)


def _chunks(rows: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(rows), size):
        yield rows[start : start + size]
