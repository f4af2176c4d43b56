"""The outbox and its sender against Azurite, with the real `azure-communication-email` client
talking to the loopback ACS endpoint: rates, digests, retries, operation ids, the daily digest."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import pytest
from azure.communication.email import EmailClient
from azure.core.credentials import AzureKeyCredential
from azure.data.tables import TableServiceClient

from connector.domain.contract_dates import PlannedAction
from connector.domain.entries import Action, LogEntry
from connector.domain.notices import Kind, Links, Notice
from connector.notify.compose import render
from connector.notify.daily import DailyBuilder
from connector.notify.notifier import Notifier
from connector.notify.run import NotificationRun
from connector.notify.sender import AcsMailer
from connector.runtime.clients import acs_mailer
from connector.runtime.settings import load_settings
from connector.storage.log import IntegrationLog
from connector.storage.outbox import Outbox
from connector.storage.schedule import ScheduleStore
from connector.storage.tables import Storage
from tests.azurite import Azurite
from tests.conftest import base_settings
from tests.sandboxes.acs import AcsSandbox
from tests.unit.test_emails import EXPECTED, NOTICES
from tests.unit.test_emails import LINKS as GOLDEN_LINKS

pytestmark = pytest.mark.azurite

NOW = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
TO = ("it-team@acme.fr",)
SENDER = "DoNotReply@connector.acme.fr"
LINKS = Links(lucca_base="https://acme.ilucca.net")


@pytest.fixture(scope="module")
def running_acs() -> Iterator[AcsSandbox]:
    """One listening ACS endpoint per module."""
    with AcsSandbox() as sandbox:
        yield sandbox


@pytest.fixture
def acs(running_acs: AcsSandbox) -> AcsSandbox:
    """The ACS endpoint, emptied."""
    running_acs.reset()
    return running_acs


class Clock:
    """A clock the test moves."""

    def __init__(self, moment: datetime) -> None:
        self.now = moment

    def __call__(self) -> datetime:
        return self.now


def mailer_for(acs: AcsSandbox, key: str | None = None) -> AcsMailer:
    """The real client on the sandbox, as `AcsMailer.from_settings` builds it."""
    client = EmailClient(acs.endpoint, AzureKeyCredential(key or acs.key), retry_total=0)
    return AcsMailer(client, sender=SENDER, recipients=TO, poll_seconds=0.01, wait_seconds=5)


def sender(
    storage: Storage,
    acs: AcsSandbox,
    clock: Clock,
    *,
    per_minute: int = 5,
    per_hour: int = 10,
    language: str = "en",
    key: str | None = None,
    daily_at: str = "",
    links: Links = LINKS,
) -> NotificationRun:
    """A notification run on Azurite and the ACS sandbox."""
    log = IntegrationLog(storage)
    return NotificationRun(
        outbox=Outbox(storage, clock=clock),
        mailer=mailer_for(acs, key),
        log=log,
        links=links,
        language=language,  # type: ignore[arg-type]
        max_per_minute=per_minute,
        max_per_hour=per_hour,
        max_attempts=3,
        daily_at=daily_at,
        daily=DailyBuilder(
            schedule=ScheduleStore(storage, clock=clock), log=log, zone="Europe/Paris", clock=clock
        ),
        clock=clock,
    )


def created(employee_id: str, name: str, clock: Clock) -> Notice:
    """An "account created" notice."""
    return Notice(
        kind=Kind.CREATED,
        employee_id=employee_id,
        name=name,
        raised_at=clock(),
        login=f"{name.split(maxsplit=1)[0].lower()}@acme.fr",
        object_id=f"00000000-0000-0000-0000-{int(employee_id):012d}",
    )


def test_from_settings_reads_the_connection_string(azurite: Azurite, acs: AcsSandbox) -> None:
    """ACS_CONNECTION_STRING with a loopback http:// endpoint → the HMAC-signed client works
    (the SDK's own `from_connection_string` would force https)."""
    settings = load_settings(
        base_settings(azurite.connection_string)
        | {
            "NOTIFY_RECIPIENTS": "it-team@acme.fr, hr@acme.fr",
            "NOTIFY_SENDER": SENDER,
            "ACS_CONNECTION_STRING": acs.connection_string,
        }
    )
    mailer = acs_mailer(settings)
    clock = Clock(NOW)
    sent = mailer.send(render(created("7", "Ada Lovelace", clock), LINKS, "en"), "op-1")
    assert sent.status == "Succeeded"
    [email] = acs.sent
    assert email.to == ["it-team@acme.fr", "hr@acme.fr"]
    assert email.operation_id == "op-1"


def test_wrong_key_is_retried_then_logged_as_failed(storage: Storage, acs: AcsSandbox) -> None:
    """A key ACS refuses: each attempt is a 401, and after the last one a "notification
    failed" entry that names the credentials, never the key."""
    clock = Clock(NOW)
    wrong = "d3Jvbmcta2V5LXdyb25nLWtleQ=="
    run = sender(storage, acs, clock, key=wrong)
    Outbox(storage, clock=clock).put(created("7", "Ada Lovelace", clock))
    for _ in range(5):
        run.run()
        clock.now += timedelta(hours=1)
    assert acs.count("POST", r"^/emails:send$") == 3
    assert acs.sent == []
    [entry] = [
        e
        for e in IntegrationLog(storage).for_employee("7")
        if e.action is Action.NOTIFICATION_FAILED
    ]
    assert "credentials" in entry.message
    assert wrong not in entry.message


def test_operation_that_ends_failed_is_sent_again_under_a_new_operation_id(
    storage: Storage, acs: AcsSandbox
) -> None:
    """ACS accepts, then the operation ends Failed: nothing was sent, so the next attempt
    uses a new operation id (the old one would only replay the failure)."""
    clock = Clock(NOW)
    run = sender(storage, acs, clock)
    Outbox(storage, clock=clock).put(created("8", "Alan Turing", clock))
    acs.fail_operations(1, code="RecipientRejected", message="mailbox unavailable")
    report = run.run()
    assert report.retried == 1
    clock.now += timedelta(minutes=2)
    assert run.run().sent == 1
    [failed, delivered] = acs.sent
    assert failed.operation_id != delivered.operation_id
    assert not failed.delivered
    assert delivered.delivered


def test_acs_throttling_stops_the_run_without_spending_an_attempt(
    storage: Storage, acs: AcsSandbox
) -> None:
    """ACS's own 429 (another app shares the resource): the run stops, the notices wait
    until Retry-After, and no attempt is counted."""
    clock = Clock(NOW)
    run = sender(storage, acs, clock, per_minute=10, per_hour=100)
    outbox = Outbox(storage, clock=clock)
    for n in range(3):
        outbox.put(created(str(n + 1), f"Person{n} Throttled", clock))
    acs.inject(429, method="POST", path=r"^/emails:send$", headers={"Retry-After": "120"})
    report = run.run()
    assert report.throttled
    assert report.sent == 0
    assert all(w.attempts == 0 for w in outbox.waiting())
    clock.now += timedelta(seconds=30)
    run.run()
    assert len(acs.sent) == 2  # the two not throttled; the third waits for Retry-After
    clock.now += timedelta(minutes=2)
    run.run()
    assert len(acs.sent) == 3


def test_digest_whose_answer_was_lost_is_sent_again_with_the_same_operation(
    storage: Storage, acs: AcsSandbox
) -> None:
    """A digest sent, then ACS's status never came back in time and the run stopped: the
    next run sends the same digest under the same operation id: one message."""
    clock = Clock(NOW)
    run = sender(storage, acs, clock, per_minute=5, per_hour=2)
    outbox = Outbox(storage, clock=clock)
    for n in range(4):
        outbox.put(created(str(n + 1), f"Person{n} Digest", clock))
    acs.inject(504, method="POST", path=r"^/emails:send$")  # the gateway lost the answer
    report = run.run()
    assert report.digests == 0
    [pending] = outbox.pending_digests()
    clock.now += timedelta(minutes=1)
    report = run.run()
    assert report.digests == 1
    assert report.digested == 4
    assert outbox.pending_digests() == []
    assert outbox.waiting() == []
    [email] = acs.sent
    assert email.operation_id == pending.operation_id
    assert all(f"Person{n} Digest" in (email.plain_text or "") for n in range(4))


def test_window_is_shared_by_runs_and_counts_the_digest_as_one(
    storage: Storage, acs: AcsSandbox
) -> None:
    """3 per minute, 4 per hour: 3 notices go one by one, the 4th the next minute; 6 more
    then exceed what the hour still allows (0) and wait; an hour later they go as one digest."""
    clock = Clock(NOW)
    run = sender(storage, acs, clock, per_minute=3, per_hour=4)
    outbox = Outbox(storage, clock=clock)
    for n in range(4):
        outbox.put(created(str(n + 1), f"Early{n} Window", clock))
    assert run.run().sent == 3
    clock.now += timedelta(seconds=70)
    assert run.run().sent == 1
    for n in range(6):
        outbox.put(created(str(n + 11), f"Late{n} Window", clock))
    clock.now += timedelta(minutes=5)
    report = run.run()
    assert report.sent == 0 and report.digests == 0 and report.waiting == 6
    clock.now = NOW + timedelta(hours=1, minutes=2)
    report = run.run()
    assert report.digests == 1
    assert report.digested == 6
    assert len(acs.sent) == 5


def test_daily_digest_once_a_day_with_tomorrows_actions_and_open_conflicts(
    storage: Storage, acs: AcsSandbox
) -> None:
    """NOTIFY_DAILY_DIGEST=07:30: nothing before 07:30 Paris; at 07:30 one email with
    tomorrow's leaver and start and the open conflict; never twice the same day."""
    clock = Clock(datetime(2026, 11, 26, 6, 0, tzinfo=UTC))  # 07:00 in Paris
    schedule = ScheduleStore(storage, clock=clock)
    tomorrow = date(2026, 11, 27)
    midnight = datetime(2026, 11, 26, 23, 0, tzinfo=UTC)  # 2026-11-27 00:00 Paris
    schedule.replace(
        "41",
        [
            PlannedAction(
                kind="disable",
                at=midnight,
                local_day=tomorrow,
                zone="Europe/Paris",
                employment_id="e41",
                contract_day=date(2026, 11, 26),
            )
        ],
    )
    schedule.replace(
        "42",
        [
            PlannedAction(
                kind="enable",
                at=midnight,
                local_day=tomorrow,
                zone="Europe/Paris",
                employment_id="e42",
                contract_day=tomorrow,
            )
        ],
    )
    schedule.replace(  # the day after tomorrow: not listed
        "43",
        [
            PlannedAction(
                kind="disable",
                at=midnight + timedelta(days=1),
                local_day=tomorrow + timedelta(days=1),
                zone="Europe/Paris",
                employment_id="e43",
                contract_day=tomorrow,
            )
        ],
    )
    IntegrationLog(storage).write(
        LogEntry(
            time=clock(),
            action=Action.CONFLICT,
            message="2 accounts have mail equal to this employee's professional email.",
            employee_id="44",
        )
    )
    run = sender(storage, acs, clock, daily_at="07:30")
    run.run()
    assert acs.sent == []
    clock.now = datetime(2026, 11, 26, 6, 30, tzinfo=UTC)  # 07:30 Paris
    assert run.run().daily_raised
    clock.now += timedelta(minutes=1)
    run.run()
    [email] = acs.sent
    text = email.plain_text or ""
    assert "27" in email.subject
    assert "employment e41" in text
    assert "employment e42" in text
    assert "employment e43" not in text
    assert "2 accounts have mail" in text
    clock.now += timedelta(hours=5)
    run.run()
    assert len(acs.sent) == 1


def test_a_conflict_settled_later_leaves_the_open_list(storage: Storage) -> None:
    """A conflict, then a sync that links: the employee is no longer an open conflict."""
    log = IntegrationLog(storage)
    log.write(LogEntry(time=NOW, action=Action.CONFLICT, message="two", employee_id="51"))
    log.write(LogEntry(time=NOW, action=Action.CREATION_FAILED, message="dom", employee_id="52"))
    assert {e.employee_id for e in log.open_conflicts()} == {"51", "52"}
    log.write(LogEntry(time=NOW, action=Action.LINKED, message="ok", employee_id="51"))
    assert [e.employee_id for e in log.open_conflicts()] == ["52"]


def test_notifier_without_outbox_writes_nothing(storage: Storage, azurite: Azurite) -> None:
    """No recipients: the notifier is off; raising is a no-op and the table never appears."""
    notifier = Notifier(None)
    notifier.creating("9")
    notifier.not_created(employee_id="9", name="N", login=None, reason="r", code="c")
    assert not notifier.was_creating("9")
    tables = TableServiceClient.from_connection_string(azurite.connection_string)
    assert "Outbox" not in [t.name for t in tables.list_tables()]


def test_same_notice_raised_twice_is_queued_once(storage: Storage) -> None:
    """The table refuses a second key row: `put` says so, and one notice waits."""
    clock = Clock(NOW)
    outbox = Outbox(storage, clock=clock)
    notice = created("61", "Grace Hopper", clock)
    assert outbox.put(notice)
    assert not outbox.put(notice)
    assert [w.key for w in outbox.waiting()] == [notice.key]


@pytest.mark.parametrize("language", ["en", "fr"])
def test_each_email_reaches_acs_as_the_stored_rendering(
    storage: Storage, acs: AcsSandbox, language: str
) -> None:
    """Each email, raised into the outbox and sent by the run through the real client:
    ACS records exactly the stored expected subject, text and HTML of each, in both
    languages."""
    clock = Clock(NOW)
    run = sender(
        storage, acs, clock, per_minute=10, per_hour=100, language=language, links=GOLDEN_LINKS
    )
    outbox = Outbox(storage, clock=clock)
    for notice in NOTICES.values():
        assert outbox.put(notice)
    assert run.run().sent == len(NOTICES)
    by_subject = {email.subject: email for email in acs.sent}
    for kind in NOTICES:
        stem = EXPECTED / f"{kind.value}.{language}"
        subject = (stem.parent / f"{stem.name}.subject.txt").read_text(encoding="utf-8").strip()
        email = by_subject[subject]
        assert email.plain_text == (stem.parent / f"{stem.name}.txt").read_text(encoding="utf-8")
        assert email.html == (stem.parent / f"{stem.name}.html").read_text(encoding="utf-8")
        assert email.to == list(TO)


def test_digest_never_answered_is_given_up_after_the_attempts_and_sending_resumes(
    storage: Storage, acs: AcsSandbox
) -> None:
    """ACS never answers a digest (5xx): it is sent again under its operation id at most
    NOTIFY_MAX_ATTEMPTS times, then its notices are logged as failed, and later notices are
    sent again (one stuck digest does not stop the outbox)."""
    clock = Clock(NOW)
    run = sender(storage, acs, clock, per_minute=5, per_hour=2)
    outbox = Outbox(storage, clock=clock)
    for n in range(4):
        outbox.put(created(str(n + 1), f"Person{n} Stuck", clock))
    acs.inject(503, method="POST", path=r"^/emails:send$", times=3)
    for _ in range(4):
        run.run()
        clock.now += timedelta(minutes=1)
    posts = [r for r in acs.requests if r.method == "POST"]
    assert len(posts) == 3
    assert len({r.header("Operation-Id") for r in posts}) == 1
    assert outbox.pending_digests() == []
    assert outbox.waiting() == []
    failed = [
        e
        for n in range(4)
        for e in IntegrationLog(storage).for_employee(str(n + 1))
        if e.action is Action.NOTIFICATION_FAILED
    ]
    assert len(failed) == 4
    outbox.put(created("9", "After Stuck", clock))
    clock.now += timedelta(hours=2)
    assert run.run().sent == 1


def test_throttled_after_an_unknown_outcome_keeps_the_operation_id(
    storage: Storage, acs: AcsSandbox
) -> None:
    """A 504 (ACS may have accepted it), then a 429: the next attempt still uses the first
    operation id, so ACS can tell it is the same email."""
    clock = Clock(NOW)
    run = sender(storage, acs, clock, per_minute=10, per_hour=100)
    Outbox(storage, clock=clock).put(created("5", "Same Operation", clock))
    acs.inject(504, method="POST", path=r"^/emails:send$")
    run.run()
    acs.inject(429, method="POST", path=r"^/emails:send$", headers={"Retry-After": "30"})
    clock.now += timedelta(minutes=1)
    run.run()
    clock.now += timedelta(minutes=1)
    assert run.run().sent == 1
    posts = [r for r in acs.requests if r.method == "POST"]
    assert len(posts) == 3
    assert len({r.header("Operation-Id") for r in posts}) == 1
    [email] = acs.sent
    assert email.operation_id == posts[0].header("Operation-Id")
