"""The command line: `python -m connector <command>`, for an operator at a terminal or a script.

Settings come from the environment, or from `--settings FILE` (a local.settings.json: its
"Values", merged over the environment), or from the function app itself with `--from-azure APP`
(`from_azure.py`: read with the operator's `az login`, Key Vault references resolved; the
environment and the file override them). Each command reads only what it needs: `logs` and
`schedule list` the storage settings alone, `webhook …` storage's and Lucca's client's.
Every command has `--help` and `--json`.

Exit codes:
  0  done
  1  the command ran and found problems (reserved: `logs` never does)
  2  usage error: an unknown command, option or value
  3  a setting is missing or malformed (the message names it, never its value)
  4  a service could not be reached or refused the request (storage, Lucca, Graph)

Adding a command: in its own module of `connector.cli`, write `run_<name>(ctx: Context) -> int`
and `add_<name>_command(commands)`, which registers it with `common.add_command(...)` plus its
options; call that from `build_parser`. A command module imports `connector.cli.common`, never
this module.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import IO, cast

from connector.cli.common import (
    EXIT_CODES,
    EXIT_SETTINGS,
    EXIT_UNREACHABLE,
    EXIT_USAGE,
    Context,
    NeedsMoreSettings,
    Printable,
    add_azure_options,
)
from connector.cli.doctor import add_doctor_command
from connector.cli.from_azure import AzureAccess, AzureReadError
from connector.cli.link import add_link_commands
from connector.cli.logs import add_logs_command
from connector.cli.reconcile import add_reconcile_command
from connector.cli.schedule import add_schedule_commands
from connector.cli.setup import add_setup_command
from connector.cli.sync import add_sync_command
from connector.cli.webhook import add_webhook_commands
from connector.core.clock import utc_now
from connector.core.errors import ConnectorError
from connector.core.loggers import quiet_http_loggers
from connector.runtime.settings import SettingsError

logger = logging.getLogger(__name__)


def build_parser() -> argparse.ArgumentParser:
    """The parser of every command."""
    parser = argparse.ArgumentParser(
        prog="python -m connector",
        description=(
            "The Lucca → Entra connector's command line. Settings come from the environment, "
            'or --settings FILE (a local.settings.json: its "Values" over the environment), or '
            "the function app's own with --from-azure APP (your az login; docs/cli.md)."
        ),
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--settings",
        metavar="FILE",
        help='a local.settings.json whose "Values" are merged over the environment',
    )
    add_azure_options(parser)
    commands = parser.add_subparsers(title="commands", metavar="COMMAND", required=True)
    add_sync_command(commands)
    add_link_commands(commands)
    add_doctor_command(commands)
    add_webhook_commands(commands)
    add_reconcile_command(commands)
    add_logs_command(commands)
    add_schedule_commands(commands)
    add_setup_command(commands)
    return parser


@contextlib.contextmanager
def _streams(out: IO[str], err: IO[str]) -> Iterator[None]:
    """argparse prints help and errors to sys.stdout and sys.stderr: send them to ours."""
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        yield


def main(
    argv: Sequence[str] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    out: IO[str] = sys.stdout,
    err: IO[str] = sys.stderr,
    clock: Callable[[], datetime] = utc_now,
    azure: AzureAccess | None = None,
) -> int:
    """Run one command; the exit code (see the module's docstring). `azure`: how
    `--from-azure` reaches Azure (default: the Azure CLI's login, Azure's public cloud)."""
    quiet_http_loggers()  # no request URL (an email in a Graph filter) in a log line
    # Values from Lucca and Entra reach the terminal: no control character gets through.
    out, err = cast(IO[str], Printable(out)), cast(IO[str], Printable(err))
    parser = build_parser()
    try:
        with _streams(out, err):
            args = parser.parse_args(argv)
    except SystemExit as exit_:  # --help (0) or a usage error (2), already printed
        return exit_.code if isinstance(exit_.code, int) else EXIT_USAGE
    ctx = Context(
        args=args,
        environ=os.environ if environ is None else environ,
        out=out,
        err=err,
        clock=clock,
        azure=azure or AzureAccess(),
    )
    try:
        code: int = args.run(ctx)
    except SettingsError as error:
        said = error.said() if isinstance(error, NeedsMoreSettings) else str(error)
        err.write(f"connector: {said}\n")
        return EXIT_SETTINGS
    except AzureReadError as error:
        err.write(f"connector: Azure: {error}\n")
        return EXIT_UNREACHABLE
    except ConnectorError as error:
        said = error.message
        if not said.lower().startswith(error.service.lower()):
            said = f"{error.service}: {said}"  # which service refused or could not be reached
        err.write(f"connector: {said}\n")
        return EXIT_UNREACHABLE
    finally:
        ctx.close()
    return code
