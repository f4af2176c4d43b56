"""The connector's story, locally: `make demo` (python -m tests.story).

Azurite stands in for Azure Storage, the sandboxes for Lucca and Microsoft Entra. Employees
are hired and changed in the Lucca sandbox; their signed events go to the real
`lucca_webhook` function; the queued changes run through the real `sync_employee` function
(the Functions host's queue handling emulated by tests/host.py); the story prints what the
connector answered, the resulting directory and the integration log. Near the end, a change
made by hand in Entra is shown by `python -m connector reconcile` and repaired by the nightly
reconciliation.
"""

from __future__ import annotations

import importlib
import io
import logging
import os
import sys
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from zoneinfo import ZoneInfo  # noqa: E402

from azure.data.tables import TableServiceClient  # noqa: E402
from azure.functions.timer import TimerRequest  # noqa: E402
from azure.storage.queue import QueueServiceClient  # noqa: E402

from connector.cli import main as cli  # noqa: E402
from connector.domain.entries import Action  # noqa: E402
from connector.storage.log import IntegrationLog  # noqa: E402
from connector.storage.tables import Storage  # noqa: E402
from tests.azurite import Azurite  # noqa: E402
from tests.conftest import (  # noqa: E402
    WEBHOOK_SECRET,
    base_settings,
    http_request,
    user_function,
)
from tests.host import QueueHost  # noqa: E402
from tests.sandboxes.acs import AcsSandbox  # noqa: E402
from tests.sandboxes.graph import GraphSandbox  # noqa: E402
from tests.sandboxes.lucca import LuccaSandbox, signed_delivery  # noqa: E402

DOMAIN = "acme.fr"


def say(text: str = "") -> None:
    """One line of the story."""
    sys.stdout.write(text + "\n")


class Story:
    """The pieces, wired as the Functions app wires them in Azure."""

    def __init__(
        self, azurite: Azurite, lucca: LuccaSandbox, graph: GraphSandbox, acs: AcsSandbox
    ) -> None:
        os.environ.update(
            {
                **base_settings(azurite.connection_string),
                "LUCCA_BASE_URL": lucca.base_url,
                "LUCCA_TOKEN_URL": f"{lucca.base_url}/connect/token",
                "LUCCA_CLIENT_ID": "lucca-client",
                "LUCCA_CLIENT_SECRET": "lucca-client-secret",
                "GRAPH_BASE_URL": f"{graph.base_url}/v1.0",
                "LUCCA_MAX_RPM": "50",
                "LUCCA_RATE_WINDOW_SECONDS": "1",
                "NOTIFY_RECIPIENTS": "it-team@acme.fr",
                "NOTIFY_SENDER": "DoNotReply@connector.acme.fr",
                "ACS_CONNECTION_STRING": acs.connection_string,
            }
        )
        self.app = importlib.import_module("function_app")
        self.host = QueueHost(self.app, azurite.connection_string)
        self.webhook = user_function(self.app, "lucca_webhook")
        self.timer = user_function(self.app, "deactivate_leavers")
        self.notifier = user_function(self.app, "send_notifications")
        self.lucca, self.graph, self.acs = lucca, graph, acs
        self.storage = Storage(
            table_service=TableServiceClient.from_connection_string(azurite.connection_string),
            queue_service=QueueServiceClient.from_connection_string(azurite.connection_string),
        )
        self.log = IntegrationLog(self.storage)
        self.delivered = 0

    def deliver(self, events: list[dict[str, Any]]) -> None:
        """Lucca delivers these events; each answer is shown."""
        for event in events:
            body, headers = signed_delivery(event, WEBHOOK_SECRET)
            response = self.webhook(http_request("POST", body=body, headers=headers))
            answer = response.get_body().decode().strip()
            say(f"  {event['topic']:<22} → {response.status_code} {answer}")

    def new_events(self) -> list[dict[str, Any]]:
        """What Lucca recorded since the last call."""
        events = self.lucca.recorded_events()[self.delivered :]
        self.delivered += len(events)
        return events

    def sync(self) -> None:
        """The queue trigger runs the waiting changes."""
        calls = self.host.drain()
        say(f"  sync_employee ran {calls} time(s)")

    def show_directory(self) -> None:
        """The Entra users, as the Graph sandbox holds them."""
        names = {u["id"]: u.get("displayName") for u in self.graph.users}
        for user in self.graph.users:
            manager = names.get(self.graph.manager_of(user["id"]) or "", "-")
            say(
                f"  {user['userPrincipalName']:<26} {user.get('displayName') or '':<16} "
                f"{user.get('jobTitle') or '-':<12} {user.get('department') or '-':<10} "
                f"mail={user.get('mail')}  employeeId={user.get('employeeId') or '-'}  "
                f"manager={manager}"
            )

    def tick(self, moment: datetime) -> None:
        """Move the connector's clock to `moment` and let the timer run what is due."""
        self.app.clock = lambda: moment
        self.lucca.today = moment.astimezone(ZoneInfo("Europe/Paris")).date()
        self.timer(TimerRequest(past_due=False))

    def reconcile(self, moment: datetime) -> None:
        """`python -m connector reconcile` at `moment`: the go-live report, nothing written."""
        out = io.StringIO()
        code = cli.main(["reconcile"], environ=dict(os.environ), out=out, clock=lambda: moment)
        say("  $ python -m connector reconcile")
        for line in out.getvalue().splitlines():
            say(f"    {line}" if line else "")
        say(f"  (exit {code}: Zoé's account still waits for a person)")

    def nightly(self, moment: datetime) -> None:
        """The `reconcile_nightly` timer fires at `moment`; its summary entry is shown."""
        self.app.clock = lambda: moment
        self.lucca.today = moment.astimezone(ZoneInfo("Europe/Paris")).date()
        user_function(self.app, "reconcile_nightly")(TimerRequest(past_due=False))
        log = IntegrationLog(self.storage, clock=lambda: moment)
        [summary] = log.search(since=moment, action=Action.RECONCILED)
        say(f"  reconcile_nightly: {summary.action.value}: {summary.message}")

    def notify(self) -> None:
        """The notification timer sends what waits in the outbox."""
        before = len(self.acs.sent)
        self.notifier(TimerRequest(past_due=False))
        say(f"  send_notifications sent {len(self.acs.sent) - before} email(s)")

    def show_emails(self) -> None:
        """Every email ACS accepted: recipients, subject, plain-text part."""
        for email in self.acs.sent:
            say(f"  To: {', '.join(email.to)}   Subject: {email.subject}")
            for line in (email.plain_text or "").splitlines():
                say(f"    {line}" if line else "")
            say()

    def show_accounts(self, logins: list[str]) -> None:
        """Whether these accounts are enabled."""
        states = {
            u["userPrincipalName"].partition("@")[0]: u.get("accountEnabled")
            for u in self.graph.users
        }
        shown = ", ".join(
            f"{login} {'enabled' if states.get(login) else 'disabled'}" for login in logins
        )
        say(f"    → {shown}")

    def show_log(self, employee_ids: list[str]) -> None:
        """Each employee's integration log, oldest first."""
        names = {u["id"]: u.get("displayName") for u in self.graph.users}
        for employee_id in employee_ids:
            for entry in reversed(self.log.for_employee(employee_id)):
                changes = "; ".join(
                    f"manager: {names.get(c.old or '', '-')} → {names.get(c.new or '', '-')}"
                    if c.attribute == "manager"
                    else str(c)
                    for c in entry.changes
                )
                stamp = f"{entry.time:%Y-%m-%d %H:%M:%S}"
                say(f"  [{stamp}] employee {employee_id} {entry.action.value}:")
                say(f"      {entry.message}")
                if changes and entry.action.value != "created":
                    say(f"      {changes}")


def main() -> None:
    """Tell the story."""
    logging.basicConfig(level=logging.ERROR, stream=sys.stdout)
    with (
        Azurite() as azurite,
        LuccaSandbox(rate_limit=1000, window_seconds=1) as lucca,
        GraphSandbox() as graph,
        AcsSandbox() as acs,
    ):
        graph.add_domain(DOMAIN, is_verified=True, is_default=True)
        story = Story(azurite, lucca, graph, acs)
        existing = graph.add_user(
            userPrincipalName=f"ana.lopez@{DOMAIN}",
            mail=f"ana.lopez@{DOMAIN}",
            displayName="Ana Lopez",
            givenName="Ana",
            surname="Lopez",
        )
        say(f"Azurite, Lucca sandbox {lucca.base_url}, Graph sandbox {graph.base_url}")
        say(f"Entra already holds {existing['userPrincipalName']}, made by hand long ago.")

        say()
        say("1. Claire (manager) and Hugo (her report) are hired; Hugo's events arrive first")
        finance = lucca.add_department("Finance")
        audit = lucca.add_department("Audit")
        claire = lucca.add_employee(
            "Claire", "Moreau", f"claire.moreau@{DOMAIN}", job_title="CFO", department_id=finance
        )
        claire_events = story.new_events()
        hugo = lucca.add_employee(
            "Hugo",
            "Bernard",
            f"hugo.bernard@{DOMAIN}",
            job_title="Comptable",
            department_id=finance,
            manager_id=claire,
        )
        story.deliver(story.new_events())
        story.sync()
        story.deliver(claire_events)
        story.sync()
        story.notify()

        say()
        say("2. Hugo becomes an auditor; Claire's email changes; Lucca redelivers an event")
        position = lucca.job_position_of(hugo)
        assert position is not None
        lucca.update_job_position(position, job_title="Auditeur", department_id=audit)
        lucca.update_employee(claire, email=f"claire.moreau-roy@{DOMAIN}")
        events = story.new_events()
        story.deliver([*events, events[0]])
        story.sync()

        say()
        say("3. Ana, already in Entra, is entered in Lucca: matched by mail and linked, with an")
        say("   alert and an email asking to check the link; Zoé's email is in a domain the")
        say("   tenant has not verified: no account, and an email says why")
        ana = lucca.add_employee("Ana", "Lopez", f"ana.lopez@{DOMAIN}", job_title="Juriste")
        zoe = lucca.add_employee("Zoé", "Petit", "zoe.petit@acme-partner.example")
        story.deliver(story.new_events())
        story.sync()
        story.notify()

        say()
        paris = ZoneInfo("Europe/Paris")
        today = datetime.now(UTC).astimezone(paris).date()
        last_day, first_day = today + timedelta(days=1), today + timedelta(days=3)
        say(f"4. Hugo's last day will be {last_day}; Léo starts on {first_day}")
        lucca.end_employment(hugo, last_day)
        leo = lucca.add_employee(
            "Léo",
            "Faure",
            f"leo.faure@{DOMAIN}",
            start=first_day.isoformat(),
            job_title="Stagiaire",
        )
        story.deliver(story.new_events())
        story.sync()
        story.show_accounts(["hugo.bernard", "leo.faure"])

        for day in (last_day + timedelta(days=1), first_day):
            midnight = datetime.combine(day, time(), paris).astimezone(UTC)
            for moment in (midnight - timedelta(milliseconds=1), midnight):
                say(f"  the timer fires at {moment:%Y-%m-%d %H:%M:%S.%f}"[:-3] + " UTC")
                story.tick(moment)
                story.show_accounts(["hugo.bernard", "leo.faure"])
            story.notify()

        say()
        night = datetime.combine(first_day + timedelta(days=1), time(2), paris).astimezone(UTC)
        say("5. Someone changes Claire's job title by hand in Entra; `python -m connector")
        say("   reconcile` (a dry run) shows the drift, and the nightly reconciliation at")
        say(f"   02:00 Paris ({night:%Y-%m-%d %H:%M} UTC) repairs it")
        [claire_account] = [u for u in graph.users if u.get("displayName") == "Claire Moreau"]
        graph.edit_user(claire_account["id"], jobTitle="Intern")
        story.reconcile(night)
        story.nightly(night)

        say()
        say("The directory (Graph sandbox):")
        story.show_directory()
        say()
        say("The integration log:")
        story.show_log([claire, hugo, ana, leo, zoe])
        say()
        say("The emails sent (ACS sandbox, through the real azure-communication-email client):")
        story.show_emails()


if __name__ == "__main__":
    main()
