"""Builds the sync's collaborators from the settings, once per worker (or command)."""

from __future__ import annotations

from connector.access import AccessPlanner
from connector.changes import ChangeFeed
from connector.directory import GraphDirectory
from connector.integration_log import IntegrationLog
from connector.lease import EmployeeLeases
from connector.links import Links
from connector.lucca import LuccaClient
from connector.mapping import owned
from connector.schedule import ScheduleStore
from connector.settings import Settings
from connector.store import Storage
from connector.sync import SyncService
from connector.worker import ChangeWorker, PoisonHandler


def build_service(
    settings: Settings, storage: Storage, lucca: LuccaClient, directory: GraphDirectory
) -> SyncService:
    """The sync service, with its Lucca client, Graph directory, links and log."""
    return SyncService(
        lucca=lucca,
        directory=directory,
        planner=build_planner(settings, lucca),
        schedule=ScheduleStore(storage),
        feed=ChangeFeed(storage),
        links=Links(storage),
        log=IntegrationLog(storage),
        attributes=owned(settings.sync_attributes),
        sync_upn=settings.SYNC_UPN,
        observe=settings.CONNECTOR_MODE == "observe",
    )


def build_planner(settings: Settings, lucca: LuccaClient) -> AccessPlanner:
    """Plans enables and disables from the employments, in `LEAVER_TIME_ZONE`."""
    return AccessPlanner(
        lucca,
        time_zone=settings.LEAVER_TIME_ZONE,
        contract_gap_days=settings.CONTRACT_GAP_DAYS,
        enable_days_before_start=settings.ENABLE_DAYS_BEFORE_START,
    )


def build_worker(settings: Settings, storage: Storage) -> ChangeWorker:
    """What `sync_employee` runs for each queued change."""
    lucca = LuccaClient.from_settings(settings, storage)
    directory = GraphDirectory.from_settings(settings)
    return ChangeWorker(
        feed=ChangeFeed(storage),
        leases=EmployeeLeases(storage),
        service=build_service(settings, storage, lucca, directory),
        log=IntegrationLog(storage),
        busy_delay_seconds=settings.SYNC_DELAY_SECONDS,
        resources=(lucca, directory),
    )


def build_poison_handler(storage: Storage) -> PoisonHandler:
    """What `sync_employee_poison` runs: storage only."""
    return PoisonHandler(feed=ChangeFeed(storage), log=IntegrationLog(storage))
