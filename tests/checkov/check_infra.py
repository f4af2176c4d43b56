"""Static checks of infra/: every Bicep file parses, and checkov reports no failed check.

Run by `make infra-check` with the checkov virtual environment's Python (tests/checkov/
requirements.txt). pycep-parser, the Bicep parser checkov uses, does not read the
`extension microsoftGraphV1` declaration yet: the check copies infra/ and drops exactly that
line from the copy (the resources that use the extension parse without it), and says so.

It fails on: a file that does not parse, a failed check, a skip comment without a reason, and
a skip comment that skips nothing (stale skips hide nothing but mislead the reader).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "infra"
EXTENSION_LINE = re.compile(r"^extension\s+microsoftGraphV1\s*$", re.MULTILINE)
SKIP = re.compile(r"//\s*checkov:skip=(?P<id>CKV2?_[A-Z]+_\d+)(?::(?P<reason>[^\n]*))?")
MIN_REASON = 20


def copy_without_extension_line(target: Path) -> list[str]:
    """Copy infra/ to `target`, dropping the extension line; the files it was dropped from."""
    shutil.copytree(INFRA, target, dirs_exist_ok=True)
    dropped = []
    for path in sorted(target.rglob("*.bicep")):
        text = path.read_text()
        stripped = EXTENSION_LINE.sub("", text)
        if stripped != text:
            path.write_text(stripped)
            dropped.append(str(path.relative_to(target)))
    return dropped


def parse_all(copy: Path) -> list[str]:
    """Parse each Bicep file with pycep; the failures."""
    from pycep import BicepParser  # noqa: PLC0415 (only in the checkov environment)

    failures = []
    for path in sorted(copy.rglob("*.bicep")):
        try:
            BicepParser().parse(text=path.read_text())
        except Exception as err:  # the parser raises lark's many error types
            failures.append(f"{path.relative_to(copy)}: {str(err).splitlines()[0]}")
    return failures


def skip_comments() -> dict[tuple[str, str], str]:
    """(file, check id) → reason, for every skip comment in infra/."""
    found = {}
    for path in sorted(INFRA.rglob("*.bicep")):
        for match in SKIP.finditer(path.read_text()):
            found[(str(path.relative_to(INFRA)), match["id"])] = (match["reason"] or "").strip()
    return found


def run_checkov(copy: Path) -> dict[str, object]:
    result = subprocess.run(  # noqa: S603 (this interpreter, fixed arguments)
        [
            sys.executable,
            "-m",
            "checkov.main",
            "--directory",
            str(copy),
            "--framework",
            "bicep",
            "--skip-download",
            "--output",
            "json",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if not result.stdout.strip():
        raise SystemExit(f"checkov printed nothing (exit {result.returncode}):\n{result.stderr}")
    report = json.loads(result.stdout)
    report = report[0] if isinstance(report, list) else report
    if "results" not in report:  # checkov's empty report: nothing was scanned
        raise SystemExit("checkov scanned no Bicep resource")
    return report


def main() -> int:
    problems: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "infra"
        dropped = copy_without_extension_line(copy)
        for name in dropped:
            print(
                f"note: dropped `extension microsoftGraphV1` from a copy of {name} "
                "(pycep-parser does not read extension declarations yet)"
            )
        files = sorted(copy.rglob("*.bicep"))
        failures = parse_all(copy)
        problems += [f"does not parse: {failure}" for failure in failures]
        print(f"parsed {len(files) - len(failures)} of {len(files)} Bicep files")
        report = run_checkov(copy)
    summary = report["summary"]
    results = report["results"]
    print(
        f"checkov: {summary['passed']} passed, {summary['failed']} failed, "
        f"{summary['skipped']} skipped, {summary['parsing_errors']} parsing errors"
    )
    if summary["parsing_errors"]:
        problems.append(f"checkov could not parse {summary['parsing_errors']} file(s)")
    for check in results.get("failed_checks", []):
        problems.append(
            f"failed {check['check_id']} ({check['check_name']}) on {check['resource']} "
            f"in {check['file_path']}"
        )
    used = {
        (check["file_path"].lstrip("/"), check["check_id"])
        for check in results.get("skipped_checks", [])
    }
    for (name, check_id), reason in skip_comments().items():
        if len(reason) < MIN_REASON:
            problems.append(f"skip of {check_id} in {name} has no reason on its line")
        if (name, check_id) not in used:
            problems.append(f"skip of {check_id} in {name} skips nothing: remove it")
        else:
            print(f"skipped {check_id} in {name}: {reason}")
    for problem in problems:
        print(f"FAIL {problem}")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
