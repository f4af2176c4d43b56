"""What every command gets: the `Context`, the exit codes, and the output and parser helpers."""

from __future__ import annotations

import argparse
import json
import re
import textwrap
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, TypeVar

from connector.cli.from_azure import (
    AppLocation,
    AzureAccess,
    read_app_settings,
    resolve_references,
)
from connector.core.clock import utc_now
from connector.runtime.lucca_settings import LuccaSettings
from connector.runtime.settings import (
    Settings,
    SettingsError,
    load_lucca_settings,
    load_settings,
    load_storage_settings,
)
from connector.runtime.storage import storage_from_settings
from connector.runtime.storage_settings import StorageSettings
from connector.storage.logquery import ParameterError
from connector.storage.tables import Storage

EXIT_OK = 0
EXIT_PROBLEMS = 1
EXIT_USAGE = 2
EXIT_SETTINGS = 3
EXIT_UNREACHABLE = 4

EXIT_CODES = """\
exit codes:
  0  done
  1  the command ran and found problems
  2  usage error
  3  a setting is missing or malformed
  4  a service could not be reached or refused the request"""

_Loaded = TypeVar("_Loaded", bound=StorageSettings)  # a settings model beyond storage's


# --- What a command gets ----------------------------------------------------------------


class NeedsMoreSettings(SettingsError):
    """A setting beyond storage's is missing or malformed, for a command that reads it."""

    def __init__(self, message: str, command: str) -> None:
        super().__init__(message)
        self.command = command

    def said(self) -> str:
        """The message, naming the command when there is one."""
        if not self.command:
            return str(self)
        return f"`{self.command}` needs more than the storage settings: {self}"


@dataclass
class Context:
    """A command's arguments, output streams, clock, and settings and storage on first use."""

    args: argparse.Namespace
    environ: Mapping[str, str]
    out: IO[str]
    err: IO[str]
    clock: Callable[[], datetime] = utc_now
    azure: AzureAccess = field(default_factory=AzureAccess)
    _from_azure: dict[str, str] | None = field(default=None, init=False)
    _resolved: dict[str, str] = field(default_factory=dict, init=False)
    _settings: Settings | None = field(default=None, init=False)
    _storage_settings: StorageSettings | None = field(default=None, init=False)
    _lucca_settings: LuccaSettings | None = field(default=None, init=False)
    _storage: Storage | None = field(default=None, init=False)

    def settings(self) -> Settings:
        """Every setting: the environment, with `--settings FILE`'s values over it."""
        if self._settings is None:
            self._settings = self._beyond_storage(load_settings, Settings)
        return self._settings

    def lucca_settings(self) -> LuccaSettings:
        """Storage's and Lucca's client settings (all a webhook command reads), or all if
        loaded: no webhook secret, no Graph or email setting."""
        if self._settings is not None:
            return self._settings
        if self._lucca_settings is None:
            self._lucca_settings = self._beyond_storage(load_lucca_settings, LuccaSettings)
        return self._lucca_settings

    def _beyond_storage(
        self, load: Callable[[dict[str, str]], _Loaded], model: type[_Loaded]
    ) -> _Loaded:
        """Settings beyond storage's, or NeedsMoreSettings naming the command (storage's own
        problem said first, as such)."""
        try:
            return load(self._values(model.model_fields))
        except SettingsError as err:
            self.storage_settings()
            raise NeedsMoreSettings(str(err), getattr(self.args, "command_name", "")) from None

    def storage_settings(self) -> StorageSettings:
        """Only the storage settings (all a storage-only command reads), or all if loaded."""
        if self._settings is not None:
            return self._settings
        if self._storage_settings is None:
            self._storage_settings = load_storage_settings(
                self._values(StorageSettings.model_fields)
            )
        return self._storage_settings

    def storage(self) -> Storage:
        """The storage clients of `AzureWebJobsStorage`."""
        if self._storage is None:
            self._storage = storage_from_settings(self.storage_settings())
        return self._storage

    def _values(self, names: Iterable[str]) -> dict[str, str]:
        """`--from-azure`'s app settings (the Key Vault references among `names` resolved),
        the environment over them, and `--settings FILE`'s over both (empty ones unset)."""
        environ = dict(self.environ)
        path = getattr(self.args, "settings", None)
        if path is not None:
            environ.update(_settings_file(Path(path)))
        environ = {k: v for k, v in environ.items() if v != ""}
        stored = self._azure_values()
        if stored:  # what the environment or the file sets is never read from the vault
            missing = [n for n in names if n not in environ and n not in self._resolved]
            self._resolved.update(resolve_references(self.azure, stored, missing))
            merged = {**stored, **self._resolved, **environ}
            environ = {k: v for k, v in merged.items() if v != ""}
        return environ

    def close(self) -> None:
        """Close what was opened."""
        if self._storage is not None:
            self._storage.close()

    def _azure_values(self) -> dict[str, str]:
        """The app's settings with `--from-azure APP` (read once), else none."""
        app = getattr(self.args, "from_azure", None)
        if not app:
            return {}
        if self._from_azure is None:
            where = AppLocation(
                name=app,
                resource_group=getattr(self.args, "resource_group", None),
                subscription=getattr(self.args, "subscription", None),
            )
            self._from_azure = read_app_settings(self.azure, where)
        return self._from_azure


def _settings_file(path: Path) -> dict[str, str]:
    """The "Values" of a local.settings.json (an empty value leaves its setting unset)."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise SettingsError(f"settings file {path}: cannot be read ({err.strerror})") from None
    except json.JSONDecodeError as err:
        raise SettingsError(f"settings file {path}: not JSON (line {err.lineno})") from None
    except UnicodeDecodeError:
        raise SettingsError(f"settings file {path}: not UTF-8 text (save it as UTF-8)") from None
    values = document.get("Values") if isinstance(document, dict) else None
    if not isinstance(values, dict):
        raise SettingsError(f'settings file {path}: has no "Values" object')
    if document.get("IsEncrypted"):
        raise SettingsError(
            f"settings file {path}: is encrypted: run `func settings decrypt` first"
        )
    return {
        str(name): str(value).lower() if isinstance(value, bool) else str(value)
        for name, value in values.items()
        if value is not None
    }


# --- Output ---------------------------------------------------------------------------------


# C0 controls but the line break and the tab, DEL, and C1 controls (0x9b is a one-byte CSI):
# what a value from Lucca or Entra could use to move the cursor, recolour or rewrite an
# operator's terminal.
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def printable(text: str) -> str:
    """`text` without control characters (line breaks and tabs kept)."""
    return _CONTROL.sub("", text)


class Printable:
    """An output stream that strips control characters from everything written to it: every
    command's table, text and JSON (json escapes C0 but not C1) goes through one."""

    def __init__(self, stream: IO[str]) -> None:
        self.raw = stream

    def write(self, text: str) -> int:
        """Write `text`, without its control characters."""
        return self.raw.write(printable(text))

    def __getattr__(self, name: str) -> Any:
        return getattr(self.raw, name)


def terminal(stream: IO[str]) -> IO[str]:
    """The stream under a `Printable` (for the connector's own escapes: a progress bar)."""
    return stream.raw if isinstance(stream, Printable) else stream


def table_time(moment: datetime) -> str:
    """An instant as the tables show it: UTC, to the second."""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def is_tty(stream: IO[str]) -> bool:
    """Whether `stream` is a terminal (a stream without `isatty` is not)."""
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def wrapped(text: str) -> str:
    """A description for the raw formatter (which keeps the epilog's layout): wrapped."""
    return textwrap.fill(text, width=88)


# --- The parser -----------------------------------------------------------------------------


def parsed(parse: Callable[[str], Any]) -> Callable[[str], Any]:
    """An argparse type from a parser raising `ParameterError` (argparse shows its message)."""

    def convert(text: str) -> Any:
        try:
            return parse(text)
        except ParameterError as err:
            raise argparse.ArgumentTypeError(str(err).partition(": ")[2]) from None

    convert.__name__ = parse.__name__.removeprefix("parse_")
    return convert


def add_azure_options(parser: argparse.ArgumentParser, *, default: Any = None) -> None:
    """`--from-azure APP` and where to find the app (before or after the command)."""
    parser.add_argument(
        "--from-azure",
        metavar="APP",
        default=default,
        help="read the function app APP's settings from Azure with your `az login`, Key Vault "
        "references resolved (the environment and --settings override them)",
    )
    parser.add_argument(
        "--resource-group",
        metavar="RG",
        default=default,
        help="with --from-azure: the app's resource group",
    )
    parser.add_argument(
        "--subscription",
        metavar="ID",
        default=default,
        help="with --from-azure: the app's subscription id (default: every one you can see)",
    )


def add_command(
    commands: Any,
    name: str,
    run: Callable[[Context], int],
    summary: str,
    description: str,
    *,
    examples: str = "",
) -> argparse.ArgumentParser:
    """Register one command: its help (`examples` above the exit codes), the options every
    command has, and what runs it."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--settings",
        metavar="FILE",
        default=argparse.SUPPRESS,
        help='a local.settings.json whose "Values" are merged over the environment',
    )
    add_azure_options(common, default=argparse.SUPPRESS)
    common.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser: argparse.ArgumentParser = commands.add_parser(
        name,
        help=summary,
        description=description,
        epilog=f"examples:\n{examples.rstrip()}\n\n{EXIT_CODES}" if examples else EXIT_CODES,
        parents=[common],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.set_defaults(run=run, command_name=name)
    return parser
