"""Builds the sync's and the timer's collaborators from the settings, once per worker."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from connector.domain.access import AccessPlanner
from connector.domain.notices import Links as EmailLinks
from connector.entra.directory import GraphDirectory
from connector.flows.catchup import CatchUp, CatchUpReport
from connector.flows.intake import Intake
from connector.flows.leavers import LeaverRun
from connector.flows.login_choice import LoginRule
from connector.flows.nightly import NightlyReconciliation
from connector.flows.reconcile import Reconciliation
from connector.flows.reconcile_scope import ScopedReconciliation
from connector.flows.scope_gate import ScopedPlanner, ScopeGate
from connector.flows.sync import SyncService
from connector.flows.worker import ChangeWorker, PoisonHandler
from connector.lucca.client import LuccaClient
from connector.lucca.scope_reads import LuccaScopeClient
from connector.notify.daily import DailyBuilder
from connector.notify.notifier import Notifier
from connector.notify.run import NotificationRun
from connector.runtime.clients import (
    acs_mailer,
    catch_up_scopes,
    graph_directory,
    lucca_client,
    organisation_kinds,
)
from connector.runtime.scope_build import scope_gate, scope_judge, scoped_planner
from connector.runtime.settings import Settings
from connector.runtime.storage_settings import StorageSettings
from connector.storage.changes import ChangeFeed, retry_delays
from connector.storage.lease import EmployeeLeases
from connector.storage.links import Links
from connector.storage.log import IntegrationLog
from connector.storage.outbox import Outbox
from connector.storage.schedule import ScheduleStore
from connector.storage.tables import Storage

Clock = Callable[[], datetime]


@dataclass(frozen=True)
class Clients:
    """The Lucca and Graph clients a worker shares between its triggers."""

    lucca: LuccaScopeClient
    directory: GraphDirectory

    @classmethod
    def from_settings(cls, settings: Settings, storage: Storage) -> Clients:
        """Both clients, for the configured Lucca instance and tenant."""
        return cls(
            lucca=lucca_client(settings, storage),
            directory=graph_directory(settings),
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


def build_scope_gate(
    settings: Settings, storage: Storage, clients: Clients, clock: Clock
) -> ScopeGate | None:
    """SYNC_SCOPE's gate for the sync (None: everyone is synced)."""
    planner = build_planner(settings, clients.lucca)
    return scope_gate(
        settings,
        storage,
        lucca=clients.lucca,
        directory=clients.directory,
        planner=planner,
        clock=clock,
    )


def build_timer_planner(
    settings: Settings, storage: Storage, clients: Clients, clock: Clock
) -> AccessPlanner | ScopedPlanner:
    """The timer's planner: with SCOPE_EXIT_ACTION=disable, the scope-exit disable too."""
    planner = build_planner(settings, clients.lucca)
    return scoped_planner(settings, storage, clients.lucca, planner, clock) or planner


def login_rule(settings: Settings) -> LoginRule | None:
    """LOGIN_TEMPLATE and LOGIN_SETS_MAIL for the sync; None without a template."""
    template = settings.login_template
    if template is None:
        return None
    return LoginRule(template=template, sets_mail=settings.LOGIN_SETS_MAIL)


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
        attributes=settings.attributes,
        sync_upn=settings.SYNC_UPN,
        observe=settings.CONNECTOR_MODE == "observe",
        notifier=build_notifier(settings, storage, clock),
        clock=clock,
        match_scope=settings.match_scope,
        match_key=settings.MATCH_KEY,
        restore_deleted=settings.RESTORE_DELETED_ACCOUNTS,
        add_created_to_scope=settings.MATCH_SCOPE_ADD_CREATED,
        scope_gate=build_scope_gate(settings, storage, clients, clock),
        logins=login_rule(settings),
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
        retry_window_hours=settings.RETRY_WINDOW_HOURS,
        retry_delays=retry_delays(settings.RETRY_DELAYS_SECONDS),
        clock=clock,
    )


def build_reconciliation(
    settings: Settings, storage: Storage, clients: Clients, clock: Clock
) -> Reconciliation:
    """The go-live and nightly reconciliation of the whole population (or SYNC_SCOPE's)."""
    judge = scope_judge(settings, clients.lucca)
    scoped: dict[str, Any] = {"judge": judge, "exit_action": settings.SCOPE_EXIT_ACTION}
    return (ScopedReconciliation if judge else Reconciliation)(
        **(scoped if judge else {}),
        storage=storage,
        lucca=clients.lucca,
        directory=clients.directory,
        planner=build_planner(settings, clients.lucca),
        build_service=lambda: build_service(settings, storage, clients, clock),
        clock=clock,
        zone=notice_zone(settings),
        left_days=settings.RECONCILE_LEFT_DAYS,
        attributes=settings.attributes,
        organisation=organisation_kinds(settings),
        lifecycle_dates=settings.LIFECYCLE_DATES,
        sync_upn=settings.SYNC_UPN,
        delay_seconds=settings.SYNC_DELAY_SECONDS,
        match_scope=settings.match_scope,
        logins=login_rule(settings),
        match_key=settings.MATCH_KEY,
        restore_deleted=settings.RESTORE_DELETED_ACCOUNTS,
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
        slice_pages=settings.RECONCILE_SLICE_PAGES,
    )


def build_leaver_run(
    settings: Settings, storage: Storage, clients: Clients, clock: Clock
) -> LeaverRun:
    """What `deactivate_leavers` runs at each tick."""
    return LeaverRun(
        schedule=ScheduleStore(storage, clock=clock),
        planner=build_timer_planner(settings, storage, clients, clock),
        lucca=clients.lucca,
        directory=clients.directory,
        links=Links(storage),
        leases=EmployeeLeases(storage),
        log=IntegrationLog(storage),
        max_sudden=settings.MAX_SUDDEN_DEACTIVATIONS,
        max_per_day=settings.MAX_DEACTIVATIONS_PER_DAY,
        zone=notice_zone(settings),
        release_id=settings.RELEASE_HELD_RUN,
        revoke_sessions=settings.REVOKE_SESSIONS,
        observe=settings.CONNECTOR_MODE == "observe",
        notifier=build_notifier(settings, storage, clock),
        clock=clock,
        stamps="employeeId" in settings.sync_attributes,
    )


def build_poison_handler(storage: Storage) -> PoisonHandler:
    """What `sync_employee_poison` runs: storage only."""
    return PoisonHandler(feed=ChangeFeed(storage), log=IntegrationLog(storage))


def build_notifier(settings: Settings, storage: Storage, clock: Clock) -> Notifier:
    """Raises notices into the outbox; with no `NOTIFY_RECIPIENTS`, raises none."""
    outbox = Outbox(storage, clock=clock) if settings.notify_recipients else None
    return Notifier(outbox, clock=clock)


def notice_zone(settings: StorageSettings) -> str:
    """The time zone the daily digest's "tomorrow" is in."""
    zone = settings.LEAVER_TIME_ZONE
    return "Europe/Paris" if zone == "establishment" else zone


def build_notification_run(settings: Settings, storage: Storage, clock: Clock) -> NotificationRun:
    """What `send_notifications` runs at each tick (only with `NOTIFY_RECIPIENTS`)."""
    zone = notice_zone(settings)
    log = IntegrationLog(storage)
    return NotificationRun(
        outbox=Outbox(storage, clock=clock),
        mailer=acs_mailer(settings),
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


def run_catch_up(settings: Settings, storage: Storage, clock: Clock) -> CatchUpReport:
    """One catch-up with a client of its own (its token carries only the catch-up's scopes)."""
    intake = Intake(
        feed=ChangeFeed(storage),
        secrets=settings.webhook_secrets,
        delay_seconds=settings.SYNC_DELAY_SECONDS,
        clock=clock,
    )
    with lucca_client(settings, storage, catch_up_scopes(settings)) as lucca:
        return CatchUp(
            lucca=lucca,
            storage=storage,
            intake=intake,
            endpoint_id=settings.LUCCA_WEBHOOK_ENDPOINT_ID,
            clock=clock,
        ).run()
