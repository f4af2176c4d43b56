"""`python -m connector setup`: the guided setup azd's hooks run after `azd provision` and
`azd deploy` (infra/hooks/setup.py; docs/deploy.md), on azd's values and the operator's own
sign-in; the steps are in `connector.cli.setup_steps`."""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from connector.cli.common import EXIT_SETTINGS, EXIT_UNREACHABLE, Context, add_command, wrapped
from connector.cli.doctor import run_doctor
from connector.cli.setup_steps import ENDPOINT_SETTING, WEBHOOK_FUNCTION, Setup
from connector.core.errors import ConnectorError
from connector.runtime.azure_admin import (
    AzureAdminError,
    FunctionApp,
    KeyVaultSecrets,
    operator_credential,
)

# How long a new role assignment on the vault may take to apply (minutes, as Azure documents).
VAULT_PATIENCE = 600.0
# What azd gives its hooks (main.bicep's outputs and the environment's own values).
AZD_VALUES = (
    "AZURE_SUBSCRIPTION_ID",
    "AZURE_RESOURCE_GROUP",
    "AZURE_FUNCTION_APP_NAME",
    "KEY_VAULT_NAME",
    "WEBHOOK_URL",
)


# --- the command ---------------------------------------------------------------------------


def add_setup_command(commands: Any) -> argparse.ArgumentParser:
    """Register `setup`."""
    parser = add_command(
        commands,
        "setup",
        run_setup,
        "the guided setup azd's hooks run: secrets, function key, webhook, doctor",
        wrapped(
            "Run by azd after provision and deploy (infra/hooks/setup.py), or by hand with the "
            "azd values in the environment (azd env get-values): store the Lucca client secret "
            f"in Key Vault (asked once, or LUCCA_CLIENT_SECRET), create a key of the "
            f"{WEBHOOK_FUNCTION} function only, register the webhook endpoint with Lucca and "
            "store its signing secret in Key Vault, set LUCCA_WEBHOOK_ENDPOINT_ID, run doctor. "
            "Running it again changes nothing: no secret is replaced, no endpoint duplicated."
        ),
        examples=(
            "  azd hooks run postdeploy          (as azd runs it after deploy)\n"
            "  python -m connector setup --no-doctor"
        ),
    )
    parser.add_argument(
        "--no-doctor",
        action="store_true",
        help="skip doctor (the postprovision hook: the code may not be deployed yet, and a "
        "failing check must not stop the deploy that could fix it)",
    )
    return parser


def run_setup(ctx: Context) -> int:
    """`python -m connector setup`, on azd's values and the operator's sign-in."""
    missing = [name for name in AZD_VALUES if not ctx.environ.get(name)]
    if missing:
        ctx.err.write(
            f"connector: {missing[0]} is missing: run it from azd's hook, or with the azd "
            "environment's values (azd env get-values)\n"
        )
        return EXIT_SETTINGS
    env = ctx.environ
    credential = operator_credential()
    vault = KeyVaultSecrets(
        f"https://{env['KEY_VAULT_NAME']}.vault.azure.net",
        credential,
        patience=VAULT_PATIENCE,
        on_wait=lambda said: ctx.out.write(f"setup: {said}\n"),
    )
    app = FunctionApp(
        subscription=env["AZURE_SUBSCRIPTION_ID"],
        resource_group=env["AZURE_RESOURCE_GROUP"],
        app=env["AZURE_FUNCTION_APP_NAME"],
        credential=credential,
    )
    with _closing(vault, app):
        setup = Setup(
            vault=vault,
            app=app,
            webhook_url=env["WEBHOOK_URL"],
            out=ctx.out,
            given_secret=env.get("LUCCA_CLIENT_SECRET") or None,
            ask=_prompt() if sys.stdin.isatty() else None,
            set_azd_value=_azd_env_set if shutil.which("azd") else None,
            azd_endpoint_id=env.get(ENDPOINT_SETTING, ""),
            doctor=None if ctx.args.no_doctor else (lambda environ: _doctor(ctx, environ)),
        )
        try:
            return setup.run()
        except (AzureAdminError, ConnectorError) as err:
            ctx.err.write(f"connector: setup: {err}\n")
            return EXIT_UNREACHABLE


@contextmanager
def _closing(*clients: KeyVaultSecrets | FunctionApp) -> Iterator[None]:
    try:
        yield
    finally:
        for client in clients:
            client.close()


def _prompt() -> Callable[[str], str]:
    import getpass  # noqa: PLC0415

    return getpass.getpass


def _azd_env_set(name: str, value: str) -> None:
    """`azd env set NAME VALUE` in the current azd environment."""
    subprocess.run(["azd", "env", "set", name, value], check=True, capture_output=True)  # noqa: S603, S607


def _doctor(ctx: Context, environ: Mapping[str, str]) -> int:
    """`doctor` on these settings, printing to the setup's streams."""
    doctor_ctx = Context(
        args=argparse.Namespace(json=False), environ=environ, out=ctx.out, err=ctx.err
    )
    try:
        return run_doctor(doctor_ctx)
    finally:
        doctor_ctx.close()
