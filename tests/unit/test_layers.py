"""The package's layers: every `connector.*` import points to the module's own package or below."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "connector"

# Lowest first. A module imports from its own package and the layers below it; packages that
# share a layer (the two services' clients) never import each other.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("core",),  # errors, the clock, small helpers: imports nothing of the connector
    ("lucca", "entra"),  # one client per service, with its documents
    ("domain",),  # pure rules and the ports the engines depend on
    ("storage",),  # Table Storage and queues: links, schedule, journal, outbox, the log
    ("notify",),  # emails: composing, words, writers, the ACS sender, the runs
    ("flows",),  # the engines: intake, sync, worker, leavers, reconcile, catch-up, ...
    ("runtime",),  # the composition root: settings in, clients and engines out
    ("cli",),  # the command line
)
RANK = {package: rank for rank, packages in enumerate(LAYERS) for package in packages}


def _modules() -> list[Path]:
    # `connector/__main__.py` is the command line's entry point, above every layer.
    return sorted(p for p in PACKAGE.rglob("*.py") if p.parent != PACKAGE)


def _package(path: Path) -> str:
    parts = path.relative_to(PACKAGE).parts
    assert len(parts) == 2, f"{path}: every module lives in one of the layer packages"
    return parts[0]


def _imports(path: Path) -> list[tuple[int, str]]:
    """Every `connector.*` module or package it imports (module level, TYPE_CHECKING, or in a
    function), with its line."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if a.name.startswith("connector.")]
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            module = node.module or ""
            if module.split(".")[0] == "connector":
                found += [(node.lineno, f"{module}.{a.name}") for a in node.names]
    return found


def test_the_layers_name_every_package() -> None:
    """Each subpackage of `connector` sits in exactly one layer (a new one must be placed)."""
    packages = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").exists()}
    assert packages == set(RANK)


def wrong_imports(imports: list[tuple[int, str]], own: str) -> list[str]:
    """The imports of a module of package `own` that go upward, sideways or out of the layers."""
    wrong = []
    for line, name in imports:
        parts = name.split(".")
        target = parts[1] if len(parts) > 1 else ""
        if target not in RANK:
            wrong.append(f"line {line}: {name} (not in a layer)")
        elif target != own and RANK[target] >= RANK[own]:
            wrong.append(f"line {line}: {name} ({target} is not below {own})")
    return wrong


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(ROOT)))
def test_imports_point_down(path: Path) -> None:
    """A module imports only from its own package and the layers below it."""
    wrong = wrong_imports(_imports(path), _package(path))
    assert not wrong, f"{path.relative_to(ROOT)} imports upward or sideways:\n" + "\n".join(wrong)


@pytest.mark.parametrize(
    "path", sorted((PACKAGE / "cli").glob("*.py")), ids=lambda p: str(p.relative_to(ROOT))
)
def test_no_command_module_imports_the_command_line_entry(path: Path) -> None:
    """Only `connector.cli.main` assembles the parser: a command module takes what it shares
    from `connector.cli.common`, never from `main`."""
    if path.stem == "main":
        return
    wrong = [
        f"line {line}: {name}"
        for line, name in _imports(path)
        if name == "connector.cli.main" or name.startswith("connector.cli.main.")
    ]
    assert not wrong, f"{path.relative_to(ROOT)} imports connector.cli.main:\n" + "\n".join(wrong)


def test_package_inits_hold_no_code() -> None:
    """`__init__.py` files hold a docstring only: no re-export pulls a heavy module into the
    webhook's cold start."""
    for init in PACKAGE.rglob("__init__.py"):
        body = ast.parse(init.read_text()).body
        code = [
            n for n in body if not (isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant))
        ]
        assert not code, f"{init.relative_to(ROOT)} holds code"


def test_a_new_upward_import_fails(tmp_path: Path) -> None:
    """The check itself: a storage module importing a flow, or lucca importing entra, is
    caught; a flow importing storage is not."""
    module = tmp_path / "bad.py"
    module.write_text("from connector.flows.sync import SyncService\n")
    imports = _imports(module)
    assert imports == [(1, "connector.flows.sync.SyncService")]
    assert wrong_imports(imports, "storage") == [
        "line 1: connector.flows.sync.SyncService (flows is not below storage)"
    ]
    assert wrong_imports([(2, "connector.entra.users.DirectoryUser")], "lucca")
    assert wrong_imports(imports, "cli") == []


MAX_LINES = 420  # "no module over about 400 lines" (DESIGN.md): split along a seam instead


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_module_is_much_over_400_lines(path: Path) -> None:
    """A module that grows past about 400 lines is split along its seams."""
    lines = len(path.read_text().splitlines())
    assert lines <= MAX_LINES, f"{path.relative_to(ROOT)} has {lines} lines"


def _graph() -> dict[str, set[str]]:
    """Module → the connector modules it imports (a `from package import module` counts as
    the module)."""
    modules = {".".join(p.relative_to(ROOT).with_suffix("").parts) for p in _modules()}
    graph: dict[str, set[str]] = {}
    for path in _modules():
        name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        targets = set()
        for _, imported in _imports(path):
            target = imported
            while target and target not in modules:
                target = target.rpartition(".")[0]
            if target and target != name:
                targets.add(target)
        graph[name] = targets
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of the import graph (its modules, the first repeated last), or None."""
    done: set[str] = set()

    def visit(module: str, path: list[str]) -> list[str] | None:
        if module in path:
            return [*path[path.index(module) :], module]
        if module in done:
            return None
        for target in sorted(graph.get(module, ())):
            cycle = visit(target, [*path, module])
            if cycle:
                return cycle
        done.add(module)
        return None

    for module in sorted(graph):
        cycle = visit(module, [])
        if cycle:
            return cycle
    return None


def test_no_import_cycle() -> None:
    """No module reaches itself through its imports (type-checking and function-level ones
    included): each room can be read without the ones above it."""
    cycle = find_cycle(_graph())
    assert cycle is None, "import cycle: " + " → ".join(cycle or [])


def test_a_cycle_is_found() -> None:
    """The check itself: a three-module circle, as `cli` and its commands once were."""
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert find_cycle(graph) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None
