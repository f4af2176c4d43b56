"""Builds the sync's and the timer's collaborators from the settings, once per worker."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from connector.access import AccessPlanner
from connector.changes import ChangeFeed
from connector.directory import GraphDirectory
from connector.integration_log import IntegrationLog
from connector.lease import EmployeeLeases
from connector.leavers import LeaverRun
from connector.links import Links
from connector.lucca import LuccaClient
from connector.mapping import owned
from connector.nightly import NightlyReconciliation
from connector.notices import Links as EmailLinks
from connector.notify import DailyBuilder, NotificationRun, Notifier
from connector.outbox import Outbox
from connector.reconcile import Reconciliation
from connector.schedule import ScheduleStore
from connector.settings import Settings
from connector.store import Storage
from connector.sync import SyncService
from connector.worker import ChangeWorker, PoisonHandler

Clock = Callable[[], datetime]


@dataclass(frozen=True)
class Clients:
    """The Lucca and Graph clients a worker shares between its triggers."""

    lucca: LuccaClient
    directory: GraphDirectory

    @classmethod
    def from_settings(cls, settings: Settings, storage: Storage) -> Clients:
        """Both clients, for the configured Lucca instance and tenant."""
        return cls(
            lucca=LuccaClient.from_settings(settings, storage),
            directory=GraphDirectory.from_settings(settings),
        )

    def close(self) -> None:
        """Close their connections (and Graph's event loop)."""
        self.lucca.close()
        self.directory.close()


def build_planner(settings: Settings, lucca: LuccaClient) -> AccessPlanner:
    """Plans enables and disables from the employments, in `LEAVER_TIME_ZONE`."""
    return AccessPlanner(
        lucca,
        time_zone=settings.LEAVER_TIME_ZONE,
        contract_gap_days=settings.CONTRACT_GAP_DAYS,
        enable_days_before_start=settings.ENABLE_DAYS_BEFORE_START,
    )


def build_service(
    settings: Settings, storage: Storage, clients: Clients, clock: Clock
) -> SyncService:
    """The sync service, with its Lucca client, Graph directory, links, schedule and log."""
    return SyncService(
        lucca=clients.lucca,
        directory=clients.directory,
        planner=build_planner(settings, clients.lucca),
        schedule=ScheduleStore(storage, clock=clock),
        lifecycle_dates=settings.LIFECYCLE_DATES,
        feed=ChangeFeed(storage),
        links=Links(storage),
        log=IntegrationLog(storage),
        attributes=owned(settings.sync_attributes),
        sync_upn=settings.SYNC_UPN,
        observe=settings.CONNECTOR_MODE == "observe",
        notifier=build_notifier(settings, storage, clock),
        clock=clock,
    )


def build_worker(
    settings: Settings, storage: Storage, clients: Clients, clock: Clock
) -> ChangeWorker:
    """What `sync_employee` runs for each queued change."""
    return ChangeWorker(
        feed=ChangeFeed(storage),
        leases=EmployeeLeases(storage),
        service=build_service(settings, storage, clients, clock),
        log=IntegrationLog(storage),
        busy_delay_seconds=settings.SYNC_DELAY_SECONDS,
        clock=clock,
    )


def build_reconciliation(
    settings: Settings, storage: Storage, clients: Clients, clock: Clock
) -> Reconciliation:
    """The go-live and nightly reconciliation of the whole population."""
    return Reconciliation(
        settings=settings,
        storage=storage,
        lucca=clients.lucca,
        directory=clients.directory,
        planner=build_planner(settings, clients.lucca),
        build_service=lambda: build_service(settings, storage, clients, clock),
        clock=clock,
        zone=notice_zone(settings),
        left_days=settings.RECONCILE_LEFT_DAYS,
    )


def build_nightly(
    settings: Settings, storage: Storage, clients: Callable[[], Clients], clock: Clock
) -> NightlyReconciliation:
    """What `reconcile_nightly` runs at each tick (the clients are built only when due)."""
    return NightlyReconciliation(
        storage=storage,
        build=lambda: build_reconciliation(settings, storage, clients(), clock),
        log=IntegrationLog(storage),
        at=settings.RECONCILE_AT,
        zone=notice_zone(settings),
        max_changes=settings.RECONCILE_MAX_CHANGES,
        observe=settings.CONNECTOR_MODE == "observe",
        clock=clock,
    )


def build_leaver_run(
    settings: Settings, storage: Storage, clients: Clients, clock: Clock
) -> LeaverRun:
    """What `deactivate_leavers` runs at each tick."""
    return LeaverRun(
        schedule=ScheduleStore(storage, clock=clock),
        planner=build_planner(settings, clients.lucca),
        lucca=clients.lucca,
        directory=clients.directory,
        links=Links(storage),
        leases=EmployeeLeases(storage),
        log=IntegrationLog(storage),
        max_sudden=settings.MAX_SUDDEN_DEACTIVATIONS,
        release_id=settings.RELEASE_HELD_RUN,
        revoke_sessions=settings.REVOKE_SESSIONS,
        observe=settings.CONNECTOR_MODE == "observe",
        notifier=build_notifier(settings, storage, clock),
        clock=clock,
    )


def build_poison_handler(storage: Storage) -> PoisonHandler:
    """What `sync_employee_poison` runs: storage only."""
    return PoisonHandler(feed=ChangeFeed(storage), log=IntegrationLog(storage))


def build_notifier(settings: Settings, storage: Storage, clock: Clock) -> Notifier:
    """Raises notices into the outbox; with no `NOTIFY_RECIPIENTS`, raises none."""
    outbox = Outbox(storage, clock=clock) if settings.notify_recipients else None
    return Notifier(outbox, clock=clock)


def notice_zone(settings: Settings) -> str:
    """The time zone the daily digest's "tomorrow" is in."""
    zone = settings.LEAVER_TIME_ZONE
    return "Europe/Paris" if zone == "establishment" else zone


def build_notification_run(settings: Settings, storage: Storage, clock: Clock) -> NotificationRun:
    """What `send_notifications` runs at each tick (only with `NOTIFY_RECIPIENTS`)."""
    from connector.mailer import AcsMailer  # noqa: PLC0415

    zone = notice_zone(settings)
    log = IntegrationLog(storage)
    return NotificationRun(
        outbox=Outbox(storage, clock=clock),
        mailer=AcsMailer.from_settings(settings),
        log=log,
        links=EmailLinks(
            lucca_base=str(settings.LUCCA_BASE_URL),
            employee_template=settings.LUCCA_EMPLOYEE_URL_TEMPLATE,
        ),
        language=settings.NOTIFY_LANGUAGE,
        max_per_minute=settings.NOTIFY_MAX_PER_MINUTE,
        max_per_hour=settings.NOTIFY_MAX_PER_HOUR,
        max_attempts=settings.NOTIFY_MAX_ATTEMPTS,
        daily_at=settings.NOTIFY_DAILY_DIGEST,
        daily_zone=zone,
        daily=DailyBuilder(
            schedule=ScheduleStore(storage, clock=clock), log=log, zone=zone, clock=clock
        ),
        clock=clock,
    )
