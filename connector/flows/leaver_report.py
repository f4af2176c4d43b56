"""What one run of the timer did (`LeaverRun.run` in connector/flows/leavers.py)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(kw_only=True)
class RunReport:
    """What one run did, for the timer's log line (counts of due actions)."""

    rows_read: int = 0  # index rows the due query read: the run's cost
    due: int = 0  # actions due (stale index rows dropped)
    disabled: int = 0
    enabled: int = 0
    unchanged: int = 0  # already in the wanted state: done without a write
    rescheduled: int = 0  # moved or cancelled by the re-plan: not acted on
    skipped: int = 0  # not linked, not the connector's to enable, or the employee was busy
    failed: int = 0  # permanent failures, logged (tried again, or left for an operator)
    deferred: int = 0  # left for the next run: transient failure, throttled, busy
    held: int = 0  # not acted on because the run was held
    sudden: int = 0  # due disables scheduled less than 24 hours before their instant
    run_id: str | None = None  # the id of a held (or released) run
    rails: tuple[str, ...] = ()  # the settings whose rail held the run
    throttled: bool = False  # a 429 stopped the run
    errors: list[str] = field(default_factory=list)  # transient failures, one line each

    @property
    def acted(self) -> int:
        """Accounts changed (disabled or enabled)."""
        return self.disabled + self.enabled

    @property
    def settled(self) -> int:
        """Due actions this run has decided on, one way or another."""
        return (
            self.disabled
            + self.enabled
            + self.unchanged
            + self.rescheduled
            + self.skipped
            + self.failed
            + self.deferred
            + self.held
        )

    def summary(self) -> str:
        """One line: `3 due (3 rows read): 2 disabled, 1 enabled, …`."""
        if self.held:
            return (
                f"{self.due} due ({self.rows_read} rows read): run {self.run_id} held "
                f"({', '.join(self.rails)}), {self.sudden} sudden disables"
            )
        line = (
            f"{self.due} due ({self.rows_read} rows read): {self.disabled} disabled, "
            f"{self.enabled} enabled, {self.unchanged} unchanged, {self.rescheduled} "
            f"rescheduled, {self.skipped} skipped, {self.failed} failed, {self.deferred} deferred"
        )
        return line + (" (stopped: throttled)" if self.throttled else "")
