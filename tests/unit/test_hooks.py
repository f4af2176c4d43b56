"""azd's hooks: postprovision and postdeploy run the same Python script on every OS, which runs
`python -m connector setup` in the project's virtual environment (issue 17)."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]
HOOK = ROOT / "infra" / "hooks" / "setup.py"


def hook_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("azd_setup_hook", HOOK)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("event", ["postprovision", "postdeploy"])
def test_azure_yaml_runs_the_setup_after_provision_and_deploy_on_every_os(event: str) -> None:
    """Each hook has a posix (sh) and a windows (pwsh) entry running infra/hooks/setup.py,
    interactive (it may ask for the client secret), stopping azd when it fails."""
    text = (ROOT / "azure.yaml").read_text()
    block = re.search(rf"^  {event}:\n((?:    .*\n)+)", text, re.MULTILINE)
    assert block is not None, event
    entries = dict(re.findall(r"^    (posix|windows):\n((?:      .*\n)+)", block[1], re.MULTILINE))
    assert set(entries) == {"posix", "windows"}
    assert "shell: sh" in entries["posix"] and "shell: pwsh" in entries["windows"]
    for entry in entries.values():
        runs = entry.count("infra/hooks/setup.py")
        assert runs >= 1
        # doctor once the code is there: after deploy, not after provision
        assert entry.count("infra/hooks/setup.py --no-doctor") == (
            runs if event == "postprovision" else 0
        )
        assert "interactive: true" in entry and "continueOnError: false" in entry
    assert "exit $LASTEXITCODE" in entries["windows"]  # pwsh passes the script's failure on


class Recorder:
    def __init__(self, import_code: int) -> None:
        self.commands: list[list[str]] = []
        self.import_code = import_code

    def __call__(self, command: list[str]) -> int:
        self.commands.append(command)
        return self.import_code if command[1:2] == ["-c"] else 0


def test_the_hook_makes_the_environment_once_then_runs_the_setup(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """First run: a virtual environment, requirements.txt installed, then the setup; a later
    run with the connector importable: the setup only."""
    hook = hook_module()
    made: list[Path] = []

    def create(self: object, folder: Path) -> None:
        made.append(folder)
        python = hook.venv_python(folder)
        python.parent.mkdir(parents=True)
        python.write_text("")

    monkeypatch.setattr(hook.venv.EnvBuilder, "create", create)
    first = Recorder(import_code=1)
    monkeypatch.setattr(hook, "run", first)
    assert hook.main(tmp_path / ".venv", ["--no-doctor"]) == 0
    python = str(hook.venv_python(tmp_path / ".venv"))
    assert made == [tmp_path / ".venv"]
    assert first.commands == [
        [python, "-c", "import connector.cli.setup"],
        [python, "-m", "pip", "install", "--quiet", "-r", "requirements.txt"],
        [python, "-m", "connector", "setup", "--no-doctor"],  # the hook's options passed on
    ]
    later = Recorder(import_code=0)
    monkeypatch.setattr(hook, "run", later)
    assert hook.main(tmp_path / ".venv", []) == 0
    assert made == [tmp_path / ".venv"]  # not made again
    assert later.commands[-1] == [python, "-m", "connector", "setup"]
    assert len(later.commands) == 2


def test_the_hook_passes_a_failed_install_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    hook = hook_module()
    python = hook.venv_python(tmp_path)
    python.parent.mkdir(parents=True)
    python.write_text("")
    monkeypatch.setattr(hook, "run", lambda command: 1)
    assert hook.main(tmp_path, []) == 1
