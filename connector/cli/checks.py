"""The doctor's report: a `Check` per line, and how a failure becomes one."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from connector.core.errors import ConnectorError
from connector.runtime.settings import SettingsError
from connector.storage.tables import StorageUnavailable

Status = Literal["PASS", "WARN", "FAIL"]

# Any check's fix when storage fails under it (`guarded`), and the storage check's own.
STORAGE_FIX = (
    "check AzureWebJobsStorage (the connection string: account, key, endpoints); with the "
    "identity form (AzureWebJobsStorage__accountName), give the identity running this (your "
    "`az login` at a terminal) Storage Table Data Contributor on the account"
)


@dataclass(frozen=True)
class Check:
    """One line of the report."""

    check: str
    status: Status
    detail: str
    fix: str | None = None


def guarded(name: str, fix: str, check: Callable[[], Check]) -> Check:
    """The check's line; a failure it did not turn into one becomes a FAIL with `fix`."""
    try:
        return check()
    except StorageUnavailable as err:
        return Check(name, "FAIL", sentence(err.message), STORAGE_FIX)
    except ConnectorError as err:
        return Check(name, "FAIL", sentence(said(err)), fix)
    except SettingsError as err:
        return Check(name, "FAIL", sentence(str(err)), "correct the setting named")
    except Exception as err:  # the doctor reports, it does not crash; no message: no secret
        return Check(name, "FAIL", f"unexpected error ({type(err).__name__}).", fix)


def sentence(text: str) -> str:
    """`text` ending as a sentence does (a full stop added if it has none)."""
    text = text.strip()
    return text if text.endswith((".", "!", "?")) else text + "."


def said(err: ConnectorError) -> str:
    """The error's message, naming its service when it does not already."""
    service = {"lucca": "Lucca", "graph": "Microsoft Graph", "storage": "storage"}[err.service]
    message = err.message
    if message.lower().startswith((err.service, service.lower())):
        return message
    return f"{service}: {message}"
