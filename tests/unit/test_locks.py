"""The dependency locks: requirements.txt and requirements-dev.txt as `make lock` writes them."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# One locked requirement: `name[extras]==version ; markers \` then its `--hash=` lines.
LOCKED = re.compile(r"^(?P<name>[A-Za-z0-9._-]+)(?:\[[^\]]*\])?==(?P<version>\S+)", re.MULTILINE)
PINNED = re.compile(r"^(?P<name>[A-Za-z0-9._-]+)(?:\[[^\]]*\])?==(?P<version>\S+)\s*$")


def normal(name: str) -> str:
    """A package name as PyPI compares them (PEP 503)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def locked(path: Path) -> dict[str, tuple[str, list[str]]]:
    """Each package of a lock file: (version, its hashes)."""
    text = path.read_text()
    entries: dict[str, tuple[str, list[str]]] = {}
    starts = list(LOCKED.finditer(text))
    for match, following in zip(starts, [*starts[1:], None], strict=True):
        block = text[match.start() : following.start() if following else len(text)]
        hashes = re.findall(r"--hash=sha256:([0-9a-f]{64})", block)
        entries[normal(match["name"])] = (match["version"], hashes)
    return entries


def direct(path: Path) -> dict[str, str]:
    """The pins of a `.in` file (its `-r`/`-c` lines and comments aside)."""
    pins = {}
    for raw in path.read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line or line.startswith("-"):
            continue
        match = PINNED.match(line)
        assert match, f"{path.name}: {line!r} is not pinned with =="
        pins[normal(match["name"])] = match["version"]
    return pins


@pytest.mark.parametrize("name", ["requirements.txt", "requirements-dev.txt"])
def test_every_locked_package_is_pinned_and_hashed(name: str) -> None:
    """Every package of a lock file, transitive ones included, has an exact version and at
    least one hash (pip then installs in hash-checking mode, and only what was locked)."""
    entries = locked(ROOT / name)
    assert len(entries) > 40
    for package, (version, hashes) in entries.items():
        assert hashes, f"{name}: {package}=={version} has no hash"
    lines = (ROOT / name).read_text().splitlines()
    assert not [line for line in lines if line.startswith("-") or ">=" in line.split("#")[0]]


def test_the_locks_follow_the_in_files() -> None:
    """Each pin of requirements.in and requirements-dev.in is the locked version (an edit not
    followed by `make lock` fails here), and the dev lock holds the runtime lock unchanged."""
    runtime = locked(ROOT / "requirements.txt")
    dev = locked(ROOT / "requirements-dev.txt")
    for package, version in direct(ROOT / "requirements.in").items():
        assert runtime[package][0] == version, package
    for package, version in direct(ROOT / "requirements-dev.in").items():
        assert dev[package][0] == version, package
    for package, (version, hashes) in runtime.items():
        assert dev[package] == (version, hashes), package


def test_the_dev_lock_builds_on_the_runtime_one() -> None:
    """requirements-dev.in takes the runtime's direct dependencies and its locked versions."""
    lines = (ROOT / "requirements-dev.in").read_text().splitlines()
    assert "-r requirements.in" in lines
    assert "-c requirements.txt" in lines
