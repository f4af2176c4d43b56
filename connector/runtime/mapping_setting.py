"""`SYNC_MAPPING_FILE` read: the mapping file's rows, beside the table's."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Final

from connector.domain import mapping
from connector.domain.mapping import Attribute, owned
from connector.domain.mapping_file import MappingFileError, merged, parse_rows

# The app's root (where function_app.py is): a relative SYNC_MAPPING_FILE starts there.
APP_ROOT: Final = Path(__file__).resolve().parents[2]


def mapping_rows(path: str) -> tuple[Attribute, ...]:
    """The rows of the mapping file at `path` (relative to the app's root); none when empty.
    A ValueError says what is wrong, naming the row, never a value of the file."""
    if not path.strip():
        return ()
    file = APP_ROOT / path.strip()
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise ValueError(f"the file cannot be read ({type(err).__name__})") from None
    try:
        document = json.loads(text)
    except ValueError as err:
        line = getattr(err, "lineno", None)
        raise ValueError(f"the file is not JSON (line {line})") from None
    try:
        return parse_rows(document)
    except MappingFileError as err:
        raise ValueError(str(err)) from None


def owned_rows(names: tuple[str, ...], rows: tuple[Attribute, ...]) -> tuple[Attribute, ...]:
    """What the connector writes: the rows SYNC_ATTRIBUTES names, with the file's rows."""
    return merged(owned(names), rows)


def every_row(rows: tuple[Attribute, ...]) -> tuple[Attribute, ...]:
    """Every row the directory reads: the whole table, with the file's rows."""
    return merged(mapping.ATTRIBUTES, rows)  # read now: the table may grow (tests do)
