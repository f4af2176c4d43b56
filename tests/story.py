"""The connector's story, locally: `make demo` (python -m tests.story).

Azurite stands in for Azure Storage and the Lucca sandbox for Lucca: employees are hired and
changed in the sandbox, their signed events are delivered to the real `lucca_webhook`
function, and the story prints what the connector answered, journaled and queued.
"""

from __future__ import annotations

import base64
import importlib
import logging
import os
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from azure.data.tables import TableClient  # noqa: E402
from azure.storage.queue import QueueClient  # noqa: E402

from connector.changes import CHANGES_QUEUE, JOURNAL_TABLE, ChangeMessage  # noqa: E402
from tests.azurite import Azurite  # noqa: E402
from tests.conftest import WEBHOOK_SECRET, base_settings, http_request  # noqa: E402
from tests.sandboxes.lucca import LuccaSandbox, signed_delivery  # noqa: E402


def say(text: str = "") -> None:
    """One line of the story."""
    sys.stdout.write(text + "\n")


def main() -> None:
    """Tell the story."""
    logging.basicConfig(level=logging.WARNING, format="    log: %(message)s", stream=sys.stdout)
    with Azurite() as azurite, LuccaSandbox() as lucca:
        os.environ.update(base_settings(azurite.connection_string))
        app = importlib.import_module("function_app")
        webhook = next(
            f.get_user_function()
            for f in app.app.get_functions()
            if f.get_function_name() == "lucca_webhook"
        )

        def deliver(label: str, body: bytes, headers: dict[str, str]) -> None:
            response = webhook(http_request("POST", body=body, headers=headers))
            answer = response.get_body().decode().strip()
            say(f"  {label:<52} → {response.status_code} {answer}")

        say("Azurite on 127.0.0.1; Lucca sandbox at " + lucca.base_url)
        say()
        say("1. Lucca activates the endpoint (GET ?echo=…)")
        response = webhook(http_request("GET", params={"echo": "7f3a-activation"}))
        say(f"  answered {response.status_code} {response.get_body().decode()!r}")

        say()
        say("2. Three hires in Lucca: each fires employee, employment and job-position events")
        manager = lucca.add_employee("Claire", "Moreau", "claire.moreau@acme.fr", job_title="CFO")
        lucca.add_employee(
            "Zoé", "O'Brien", "zoe.obrien@acme.fr", job_title="Comptable", manager_id=manager
        )
        lucca.add_employee("Hugo", "Bernard", "hugo.bernard@acme.fr", start="2027-01-04")
        events = lucca.recorded_events()
        for event in events:
            deliver(
                f"{event['topic']} (event {event['id']})", *signed_delivery(event, WEBHOOK_SECRET)
            )

        say()
        say("3. Lucca delivers one event again, and strangers knock")
        deliver(f"{events[0]['topic']} again", *signed_delivery(events[0], WEBHOOK_SECRET))
        body, headers = signed_delivery(events[1], WEBHOOK_SECRET)
        altered = body.replace(events[1]["data"]["id"].encode(), b"666", 1)
        deliver("the same event with its body altered", altered, headers)
        deliver("signed with a secret we do not hold", *signed_delivery(events[1], "guess"))
        deliver("ping", *signed_delivery(lucca.ping_event(), WEBHOOK_SECRET))

        say()
        say("4. What the connector journaled (ids, topic, times, hash: never the personal data)")
        for row in rows(azurite.connection_string):
            say(
                f"  {row['OccurredAt']:%Y-%m-%d %H:%M:%S}Z {row['Topic']:<22} "
                f"employee {row.get('EmployeeId', '-'):<6} {row['Outcome']:<10} "
                f"deliveries {row['Deliveries']}  sha256 {row['BodySha256'][:12]}…"
            )

        say()
        say("5. What waits on the queue 'lucca-changes' for the sync (one per employee)")
        queue = QueueClient.from_connection_string(azurite.connection_string, CHANGES_QUEUE)
        for message in queue.peek_messages(max_messages=32):
            change = ChangeMessage.from_json(base64.b64decode(message.content).decode())
            say(f"  sync employee {change.employee_id} (first event: {change.topic})")
        say()
        say("Next in the story (coming issues): the sync into Entra, leaver schedules, emails.")


def rows(connection_string: str) -> list[dict[str, Any]]:
    """The journal, oldest first."""
    table = TableClient.from_connection_string(connection_string, JOURNAL_TABLE)
    return sorted((dict(r) for r in table.list_entities()), key=lambda r: int(r["EventId"]))


if __name__ == "__main__":
    main()
