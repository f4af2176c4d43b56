"""The directory as a night's slices see it: read whole once, then only what changed.

A slice plans its employees against the whole directory (an anchor, a namesake or a login may
be any account), but reading every account at every slice would cost the tenant's size in
Graph requests each tick. So the night's first slice reads the directory with a first round of
Graph's users delta query and keeps it, with the round's delta link, in table `Reconciliation`
(partition `directory-<local day>`: the users compressed, in rows of binary chunks, no secret);
each later slice follows the delta link (one request when little changed, the slices' own
writes included) and keeps the result again. The partition goes when the night is done (and
the day before's at a night's first slice). A delta link Graph no longer takes starts a new
first round.
"""

from __future__ import annotations

import json
import zlib
from dataclasses import asdict
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

from azure.data.tables import UpdateMode

from connector.core.errors import Invalid, NotFound
from connector.entra.delta import DeltaRound, merge
from connector.entra.users import DirectoryUser

if TYPE_CHECKING:
    from connector.entra.directory import GraphDirectory
    from connector.storage.tables import Storage

PREFIX = "directory-"
HEAD = "head"
CHUNK = 60_000  # bytes a binary property holds (Table Storage: at most 64 KiB)
CHUNKS_PER_ROW = 10  # 600 KB a row: under 1 MiB even counted as base64 (as Azurite does)


class NightDirectory:
    """The night's copy of the directory, kept between slices and brought up to date by delta."""

    def __init__(self, storage: Storage, table: str, night: date) -> None:
        self._storage = storage
        self._table = table
        self._night = night
        self._partition = f"{PREFIX}{night.isoformat()}"
        self.pages = 0  # Graph requests the last `users()` made

    def users(self, directory: GraphDirectory) -> list[DirectoryUser]:
        """Every user, as Graph has them now: kept ones updated by a delta round, else whole."""
        kept = self._load(self._partition)
        round_ = self._follow(directory, kept[0]) if kept is not None else None
        if kept is None or round_ is None:
            kept = None
            self._drop(f"{PREFIX}{(self._night - timedelta(days=1)).isoformat()}")
            round_ = directory.users_delta(None)
        users = merge(kept[1] if kept is not None else {}, round_)
        self.pages = round_.pages
        self._save(round_.delta_link, users)
        return list(users.values())

    @staticmethod
    def _follow(directory: GraphDirectory, link: str) -> DeltaRound | None:
        """The round from the kept delta link; None when Graph no longer takes it."""
        try:
            return directory.users_delta(link)
        except (Invalid, NotFound):
            return None

    def forget(self) -> None:
        """The night is done: its copy goes."""
        self._drop(self._partition)

    # -- the table --------------------------------------------------------------------------
    def _rows(self, partition: str) -> list[dict[str, Any]]:
        def query(table: Any) -> list[dict[str, Any]]:
            found = table.query_entities("PartitionKey eq @p", parameters={"p": partition})
            return [dict(row) for row in found]

        return self._storage.on_table(self._table, query)

    def _load(self, partition: str) -> tuple[str, dict[str, DirectoryUser]] | None:
        rows = {str(r["RowKey"]): r for r in self._rows(partition)}
        head = rows.get(HEAD)
        if head is None:
            return None
        generation, count = str(head["Generation"]), int(head["Rows"])
        data = b"".join(
            bytes(rows[f"{generation}-{n:04d}"][f"Data{c:02d}"])
            for n in range(count)
            for c in range(int(rows[f"{generation}-{n:04d}"]["Chunks"]))
        )
        users = [_from_json(u) for u in json.loads(zlib.decompress(data))]
        return str(head["DeltaLink"]), {u.id: u for u in users}

    def _save(self, link: str, users: dict[str, DirectoryUser]) -> None:
        """The users and the link, under a new generation; the head row names it last, so a
        crash half-way leaves the previous copy whole."""
        before = self._rows(self._partition)
        head = next((r for r in before if r["RowKey"] == HEAD), None)
        generation = str(int(head["Generation"]) + 1 if head is not None else 1)
        data = zlib.compress(json.dumps([asdict(u) for u in users.values()]).encode(), 6)
        chunks = [data[i : i + CHUNK] for i in range(0, len(data), CHUNK)] or [b""]
        rows = [chunks[i : i + CHUNKS_PER_ROW] for i in range(0, len(chunks), CHUNKS_PER_ROW)]
        for n, row in enumerate(rows):
            entity: dict[str, Any] = {
                "PartitionKey": self._partition,
                "RowKey": f"{generation}-{n:04d}",
                "Chunks": len(row),
            }
            entity |= {f"Data{c:02d}": chunk for c, chunk in enumerate(row)}
            self._upsert(entity)
        self._upsert(
            {
                "PartitionKey": self._partition,
                "RowKey": HEAD,
                "Generation": generation,
                "Rows": len(rows),
                "DeltaLink": link,
                "Users": len(users),
            }
        )
        for old in before:
            if old["RowKey"] != HEAD:
                self._delete(self._partition, str(old["RowKey"]))

    def _drop(self, partition: str) -> None:
        for row in self._rows(partition):
            self._delete(partition, str(row["RowKey"]))

    def _upsert(self, entity: dict[str, Any]) -> None:
        self._storage.on_table(
            self._table, lambda t: t.upsert_entity(entity, mode=UpdateMode.REPLACE)
        )

    def _delete(self, partition: str, row: str) -> None:
        self._storage.on_table(self._table, lambda t: t.delete_entity(partition, row))


def _from_json(raw: dict[str, Any]) -> DirectoryUser:
    return DirectoryUser(**raw)
