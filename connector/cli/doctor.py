"""`python -m connector doctor [--json]`: is the connector set up to work? One line per check.

Checks, in this order, each on its own (a failure never stops the next):

1. settings: they load (else the one line and exit 3: nothing else can run); the mode
   (WARN in observe) and the notification emails (WARN with NOTIFY_RECIPIENTS empty).
2. storage: one point read (the Lucca limiter's row).
3. Lucca token for the sync's scopes (when Lucca refuses them, each is asked for alone to name
   the missing one), then each scope the catch-up needs (`catch_up_scopes`).
4. Lucca API: `GET employees?limit=1`, one request of the shared budget; then how many
   employees SYNC_SCOPE keeps (`connector.cli.scope_check`: no request without a scope).
5. Graph permissions: the `roles` of the token the directory's credential gets, against what
   the settings need (`graph_roles_needed`); roles beyond them are a WARN (least privilege).
   With a person's token (`az login`), the managed identity's (AZURE_CLIENT_ID) roles read
   through its service principal instead (`identity_checks.py`): missing admin consent fails.
6. Graph domains: the verified, managed domains, as the sync reads them.
7. The webhook endpoint LUCCA_WEBHOOK_ENDPOINT_ID: active, with the nine topics.

Exit 0 when no line FAILs, 1 otherwise, 3 when the settings do not load. A service that cannot
be reached is a FAIL line, not exit 4. Nothing prints a secret or a token: each line is built
from the connector's error messages, which never hold one.

The Lucca checks (3, 4, 7) are in `connector.cli.lucca_checks`, the Graph ones (5, 6) in
`connector.cli.graph_checks`, the report's line and its guard in `connector.cli.checks`.
"""

from __future__ import annotations

import argparse
import functools
import json
from collections.abc import Iterator
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from connector.cli.checks import STORAGE_FIX, Check, guarded, sentence
from connector.cli.common import (
    EXIT_OK,
    EXIT_PROBLEMS,
    EXIT_SETTINGS,
    Context,
    add_command,
    wrapped,
)
from connector.cli.graph_checks import GraphChecks
from connector.cli.lucca_checks import LUCCA_FIX, LuccaChecks
from connector.cli.scope_check import scope_check
from connector.runtime.clients import catch_up_scopes
from connector.runtime.settings import Settings, SettingsError
from connector.storage.ratelimit import PARTITION, ROW, TABLE

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential

HELP = (
    "Check that the connector is set up to work, one line per check, PASS, WARN or FAIL, "
    "with the fix for each one not passed: the settings (and the mode and the emails); "
    "storage (one point read); a Lucca token for the sync's scopes and for each scope the "
    "catch-up needs (a missing scope is named); one Lucca API request (GET employees?limit=1, "
    "which counts against the shared Lucca budget, LUCCA_MAX_RPM, like the webhook check's "
    "one); "
    "how many employees SYNC_SCOPE keeps (with a scope, the active and upcoming employees are "
    "read, 100 a request); "
    "the Graph token's roles against the permissions the settings need (and any held "
    "beyond them); the tenant's verified, managed domains; the webhook endpoint "
    "LUCCA_WEBHOOK_ENDPOINT_ID (active, the nine topics). It changes nothing in Lucca or Entra "
    "and never prints a secret or a token. Exit 0 when nothing failed, 1 when a check failed "
    "(an unreachable service included), 3 when the settings do not load."
)
EXAMPLES = """\
examples:
  python -m connector doctor
  python -m connector --settings local.settings.json doctor --json
"""


def add_doctor_command(commands: Any) -> argparse.ArgumentParser:
    """Register `doctor`."""
    parser = add_command(
        commands,
        "doctor",
        run_doctor,
        "check the settings, storage, Lucca, Graph and the webhook endpoint",
        wrapped(HELP),
    )
    parser.epilog = EXAMPLES + "\n" + (parser.epilog or "")
    return parser


def run_doctor(ctx: Context) -> int:
    """`python -m connector doctor`."""
    return doctor(ctx)


def doctor(ctx: Context, *, credential: TokenCredential | None = None) -> int:
    """Run every check, print the report; the exit code. `credential` replaces the Graph
    directory's own (the managed identity in Azure; none on a loopback sandbox)."""
    try:
        settings = ctx.settings()
    except SettingsError as err:
        fix = (
            "set or correct it in the app settings (or the --settings file's Values); "
            "docs/configuration.md lists them"
        )
        _print(ctx, [Check("settings", "FAIL", str(err), fix)])
        return EXIT_SETTINGS
    checks = list(_Doctor(ctx, settings, credential).checks())
    _print(ctx, checks)
    return EXIT_PROBLEMS if any(c.status == "FAIL" for c in checks) else EXIT_OK


def _print(ctx: Context, checks: list[Check]) -> None:
    if ctx.args.json:
        json.dump([asdict(c) for c in checks], ctx.out, ensure_ascii=False, indent=2)
        ctx.out.write("\n")
        return
    for c in checks:
        fix = f" Fix: {sentence(c.fix)}" if c.fix else ""
        ctx.out.write(f"{c.status}  {c.check}: {c.detail}{fix}")
        ctx.out.write("\n")
    counts = {s: sum(c.status == s for c in checks) for s in ("FAIL", "WARN", "PASS")}
    ctx.out.write(
        f"{counts['FAIL']} failed, {counts['WARN']} to look at, {counts['PASS']} passed.\n"
    )


class _Doctor:
    """The checks, each guarded so that a failure becomes its line."""

    def __init__(
        self, ctx: Context, settings: Settings, credential: TokenCredential | None
    ) -> None:
        self.ctx = ctx
        self.settings = settings
        self.lucca = LuccaChecks(ctx, settings)
        self.graph = GraphChecks(settings, credential)

    def checks(self) -> Iterator[Check]:
        yield from self._settings()
        yield guarded("storage", STORAGE_FIX, self._storage)
        yield guarded("lucca token", LUCCA_FIX, self.lucca.token)
        for scope in catch_up_scopes(self.settings):
            name = f"lucca scope {scope}"
            yield guarded(name, LUCCA_FIX, functools.partial(self.lucca.scope, scope))
        yield guarded("lucca api", LUCCA_FIX, self.lucca.api)
        yield guarded(
            "sync scope", LUCCA_FIX, functools.partial(scope_check, self.ctx, self.settings)
        )
        yield from self.graph.checks()
        yield guarded("webhook endpoint", LUCCA_FIX, self.lucca.webhook_endpoint)

    # -- 1. settings ---------------------------------------------------------------------------
    def _settings(self) -> Iterator[Check]:
        s = self.settings
        given = len(s.model_fields_set)
        yield Check("settings", "PASS", f"valid: {given} set, the others at their defaults.")
        if s.CONNECTOR_MODE == "observe":
            yield Check(
                "mode",
                "WARN",
                "CONNECTOR_MODE is observe: each sync only logs its plan (entries marked "
                "observed), nothing is written to Entra and no leaver is disabled.",
                "when the observed entries look right, go live: `azd env set CONNECTOR_MODE "
                "apply` then `azd provision` (docs/deploy-by-hand.md step 8)",
            )
        else:
            yield Check("mode", "PASS", "CONNECTOR_MODE is apply: the syncs write to Entra.")
        if not s.notify_recipients:
            yield Check(
                "notifications",
                "WARN",
                "NOTIFY_RECIPIENTS is empty: no email is sent (account created, not created, "
                "leavers) and the alert email is off.",
                "set NOTIFY_RECIPIENTS, NOTIFY_SENDER and ACS_ENDPOINT (docs/emails.md)",
            )
        else:
            count = len(s.notify_recipients)
            yield Check(
                "notifications",
                "PASS",
                f"emails to {count} recipient{'s' if count > 1 else ''} from {s.NOTIFY_SENDER}.",
            )

    # -- 2. storage ----------------------------------------------------------------------------
    def _storage(self) -> Check:
        self.ctx.storage().read(TABLE, PARTITION, ROW)
        return Check("storage", "PASS", f"reachable (a point read of table {TABLE}).")
