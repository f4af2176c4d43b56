"""azd's postprovision and postdeploy hook (azure.yaml): `python -m connector setup` in the
project's virtual environment, which it makes once from requirements.txt. Python only, so the
same steps run on Windows, macOS and Linux (docs/deploy.md)."""

from __future__ import annotations

import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
VENV = ROOT / ".venv"
SETUP = ("-m", "connector", "setup")


def venv_python(folder: Path) -> Path:
    """The virtual environment's interpreter, on Windows or elsewhere."""
    return folder / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def run(command: list[str]) -> int:
    """Run a command in the project's folder, with azd's environment; its exit code."""
    return subprocess.run(command, cwd=ROOT, check=False).returncode  # noqa: S603


def main(folder: Path = VENV, options: list[str] | None = None) -> int:
    """Make the environment if needed, install what the connector needs, run the setup (with
    this script's options: `--no-doctor` after provision)."""
    if sys.version_info < (3, 11):  # noqa: UP036 (the operator's own Python runs this)
        print("setup: the connector needs Python 3.11 or later", file=sys.stderr)
        return 1
    python = venv_python(folder)
    if not python.exists():
        print(f"setup: making a virtual environment in {folder.name}/ (once)")
        venv.EnvBuilder(with_pip=True).create(folder)
    if run([str(python), "-c", "import connector.cli.setup"]) != 0:
        print("setup: installing requirements.txt into it")
        code = run([str(python), "-m", "pip", "install", "--quiet", "-r", "requirements.txt"])
        if code != 0:
            return code
    return run([str(python), *SETUP, *(sys.argv[1:] if options is None else options)])


if __name__ == "__main__":
    sys.exit(main())
