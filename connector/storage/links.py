"""Identity links: which Entra account belongs to which Lucca employee, both ways.

Table `IdentityLinks`, one partition (`link`) so that a link's two rows (`lucca-<id>` →
object id, `entra-<object id>` → employee id) are written in one transaction: a link never
exists one way only, and two employees can never be linked to the same account. The same
partition holds the refusals (`refused-<employee id>-<object id>`): an operator unlinked that
account from that employee (in Entra, or with `unlink`), and only `link` takes it back; the
unlink drops the link's rows and writes its refusal in one transaction.

Table `PendingManagers`: PartitionKey = the manager's Lucca id, RowKey = a report's Lucca id:
reports synced before their manager's account was linked, set once it is.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from azure.data.tables import TableTransactionError, UpdateMode

from connector.core.errors import Transient
from connector.domain.links import Link
from connector.storage.tables import Storage

LINKS_TABLE = "IdentityLinks"
PENDING_MANAGERS_TABLE = "PendingManagers"
PARTITION = "link"


def _employee_row(employee_id: str) -> str:
    return f"lucca-{employee_id}"


def _object_row(object_id: str) -> str:
    return f"entra-{object_id}"


def _refused_row(employee_id: str, object_id: str) -> str:
    return f"refused-{employee_id}-{object_id}"


def _link(employee_id: str, row: Any) -> Link:
    """The link stored in an employee's row."""
    return Link(
        employee_id=employee_id,
        object_id=str(row["ObjectId"]),
        linked_at=row["LinkedAt"],
        how=str(row.get("How", "")),
        pending_manager_id=row.get("PendingManagerId") or None,
        disabled_by_connector=bool(row.get("DisabledByConnector")),
        lifecycle=(row.get("HireDate") or None, row.get("LeaveDateTime") or None),
        stamped=None if row.get("Stamped") is None else bool(row["Stamped"]),
    )


class Links:
    """Reads and writes identity links and pending managers."""

    def __init__(self, storage: Storage) -> None:
        self._storage = storage

    def of_employee(self, employee_id: str) -> Link | None:
        """The link of a Lucca employee, or None."""
        row = self._storage.read(LINKS_TABLE, PARTITION, _employee_row(employee_id))
        return None if row is None else _link(employee_id, row)

    def all(self) -> list[Link]:
        """Every link (one partition, read once: what a reconciliation compares against)."""

        def query(table: Any) -> list[Link]:
            rows = table.query_entities(
                "PartitionKey eq @p and RowKey ge @lo and RowKey lt @hi",
                parameters={"p": PARTITION, "lo": "lucca-", "hi": "lucca."},
            )
            return [_link(str(row["RowKey"]).removeprefix("lucca-"), row) for row in rows]

        return self._storage.on_table(LINKS_TABLE, query)

    def employee_of(self, object_id: str) -> str | None:
        """The Lucca employee an Entra account is linked to, or None."""
        row = self._storage.read(LINKS_TABLE, PARTITION, _object_row(object_id))
        return str(row["EmployeeId"]) if row else None

    def link(
        self, employee_id: str, object_id: str, *, how: str, at: datetime, stamped: bool = False
    ) -> Link:
        """Link both ways in one transaction (`stamped`: the account holds the employee's
        anchor); `Transient` if either side is linked already."""
        operations: list[Any] = [
            (
                "create",
                {
                    "PartitionKey": PARTITION,
                    "RowKey": _employee_row(employee_id),
                    "ObjectId": object_id,
                    "LinkedAt": at,
                    "How": how,
                    "Stamped": stamped,
                },
            ),
            (
                "create",
                {
                    "PartitionKey": PARTITION,
                    "RowKey": _object_row(object_id),
                    "EmployeeId": employee_id,
                    "LinkedAt": at,
                },
            ),
        ]
        try:
            self._storage.on_table(LINKS_TABLE, lambda t: t.submit_transaction(operations))
        except TableTransactionError as err:
            # Another sync linked one side meanwhile: the retry finds that link and goes on.
            raise Transient(
                f"employee {employee_id} or account {object_id} was linked meanwhile",
                service="storage",
                code="LinkExists",
            ) from err
        return Link(
            employee_id=employee_id, object_id=object_id, linked_at=at, how=how, stamped=stamped
        )

    def set_stamped(self, employee_id: str) -> None:
        """Record that the linked account holds the employee's anchor (written or found)."""
        update = {"PartitionKey": PARTITION, "RowKey": _employee_row(employee_id), "Stamped": True}
        self._storage.on_table(
            LINKS_TABLE, lambda t: t.upsert_entity(update, mode=UpdateMode.MERGE)
        )

    # -- an operator's decisions ------------------------------------------------------------
    def unlink(self, employee_id: str, *, at: datetime, why: str) -> Link | None:
        """Drop the employee's link both ways and refuse that account to that employee, in one
        transaction; the link dropped, or None when there was none."""
        link = self.of_employee(employee_id)
        if link is None:
            return None
        self.set_pending_manager(employee_id, None)
        refusal = {
            "PartitionKey": PARTITION,
            "RowKey": _refused_row(employee_id, link.object_id),
            "EmployeeId": employee_id,
            "ObjectId": link.object_id,
            "RefusedAt": at,
            "Why": why,
        }
        operations: list[Any] = [
            ("delete", {"PartitionKey": PARTITION, "RowKey": _employee_row(employee_id)}),
            ("delete", {"PartitionKey": PARTITION, "RowKey": _object_row(link.object_id)}),
            ("upsert", refusal, {"mode": UpdateMode.REPLACE}),
        ]
        self._storage.on_table(LINKS_TABLE, lambda t: t.submit_transaction(operations))
        return link

    def is_refused(self, employee_id: str, object_id: str) -> bool:
        """Whether an operator unlinked this account from this employee (a point read)."""
        row = self._storage.read(LINKS_TABLE, PARTITION, _refused_row(employee_id, object_id))
        return row is not None

    def clear_refusal(self, employee_id: str, object_id: str) -> None:
        """An operator linked this account to this employee: the refusal is taken back."""
        self._storage.delete(LINKS_TABLE, PARTITION, _refused_row(employee_id, object_id))

    def refusals(self) -> frozenset[tuple[str, str]]:
        """Every refusal as (employee id, object id): what a reconciliation reads once."""

        def query(table: Any) -> frozenset[tuple[str, str]]:
            rows = table.query_entities(
                "PartitionKey eq @p and RowKey ge @lo and RowKey lt @hi",
                parameters={"p": PARTITION, "lo": "refused-", "hi": "refused."},
                select=["EmployeeId", "ObjectId"],
            )
            return frozenset((str(r["EmployeeId"]), str(r["ObjectId"])) for r in rows)

        return self._storage.on_table(LINKS_TABLE, query)

    def set_disabled_by_connector(self, employee_id: str, value: bool) -> None:
        """Record whether the connector itself disabled the employee's account."""
        update = {
            "PartitionKey": PARTITION,
            "RowKey": _employee_row(employee_id),
            "DisabledByConnector": value,
        }
        self._storage.on_table(
            LINKS_TABLE, lambda t: t.upsert_entity(update, mode=UpdateMode.MERGE)
        )

    def set_lifecycle(self, employee_id: str, hire: str | None, leave: str | None) -> None:
        """Record the lifecycle dates last written to the account."""
        update = {
            "PartitionKey": PARTITION,
            "RowKey": _employee_row(employee_id),
            "HireDate": hire or "",
            "LeaveDateTime": leave or "",
        }
        self._storage.on_table(
            LINKS_TABLE, lambda t: t.upsert_entity(update, mode=UpdateMode.MERGE)
        )

    # -- pending managers -------------------------------------------------------------------
    def set_pending_manager(self, report_id: str, manager_id: str | None) -> None:
        """Record (or clear, with None) the manager a linked report is waiting for."""
        link = self.of_employee(report_id)
        previous = link.pending_manager_id if link else None
        if previous and previous != manager_id:
            self._storage.delete(PENDING_MANAGERS_TABLE, previous, report_id)
        if manager_id and manager_id != previous:
            entity = {"PartitionKey": manager_id, "RowKey": report_id}
            self._storage.on_table(
                PENDING_MANAGERS_TABLE, lambda t: t.upsert_entity(entity, mode=UpdateMode.REPLACE)
            )
        if link is not None and previous != manager_id:
            update = {
                "PartitionKey": PARTITION,
                "RowKey": _employee_row(report_id),
                "PendingManagerId": manager_id or "",
            }
            self._storage.on_table(
                LINKS_TABLE, lambda t: t.upsert_entity(update, mode=UpdateMode.MERGE)
            )

    def pending_reports(self, manager_id: str) -> list[str]:
        """The reports waiting for this manager's account (one partition)."""
        return self._storage.on_table(
            PENDING_MANAGERS_TABLE,
            lambda t: [
                str(row["RowKey"])
                for row in t.query_entities(
                    "PartitionKey eq @manager", parameters={"manager": manager_id}
                )
            ],
        )
