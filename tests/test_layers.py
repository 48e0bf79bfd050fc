"""The import layers of quant_rollout, enforced by walking its import graph with ``ast``.

Every ``import``/``from … import`` in every module counts: at module level, inside
functions, and under ``if TYPE_CHECKING:``. Each module is mapped to a layer by
:data:`LAYERS` (the one list ARCHITECTURE.md mirrors; a test below checks that the
page's table is this list). The rules:

* a module imports only from its own layer or the layers below it;
* no cycle between modules (importing ``pkg.mod`` from outside ``pkg`` also runs
  ``pkg/__init__.py``, so that counts as an import of ``pkg``);
* the layers up to the shell import nothing outside the standard library;
* ``quant_rollout/__init__.py``, ``core.py`` and ``__main__.py`` only re-export, and
  no module of the package imports them.

The checker is a pure function of a graph, so the tests at the end feed it graphs
with a cycle and with an upward edge and see it fail.
"""

from __future__ import annotations

import ast
import importlib.util
import re
import sys
import sysconfig
from pathlib import Path
from typing import Dict, Iterable, List, Mapping, Optional, Sequence, Set, Tuple

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "quant_rollout"
NAME = "quant_rollout"

LAYERS: Tuple[Tuple[str, Tuple[str, ...]], ...] = (
    (
        "shared",
        (
            "errors",
            "_validate",
            "_version",
            "_files",
            "_search",
            "_durations",
            "trades",
            "calendar",
            "clock",
            "metrics",
            "evidence",
            "stats",
        ),
    ),
    ("gates", ("gates",)),
    ("kill", ("kill",)),
    ("arms", ("arms",)),
    ("engine", ("engine",)),
    ("storage", ("storage",)),
    ("config", ("tools.config",)),
    ("shell", ("rollout", "planning")),
    ("tools", ("tools",)),
    ("dashboard", ("dashboard",)),
)
"""Bottom layer first: (layer, the modules and packages in it, relative to the package).

A module belongs to the entry that names it or its nearest enclosing package.
``tools.config`` (a config file -> ``RolloutConfig``) sits below the shell because
``Rollout.from_config`` reads config files.
"""

REEXPORT_ONLY = ("", "core", "__main__")
"""The package itself (``__init__.py``), ``core.py`` and ``__main__.py``."""

STDLIB_ONLY_UP_TO = "shell"
"""The layers up to and including this one import only the standard library."""


# ----------------------------------------------------------------------------- the graph


def module_files(package: Path = PACKAGE) -> Dict[str, Path]:
    """Every module of the package, by dotted name relative to it ('' for the package)."""
    out: Dict[str, Path] = {}
    for path in sorted(package.rglob("*.py")):
        parts = list(path.relative_to(package).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def _is_package(name: str, files: Mapping[str, Path]) -> bool:
    return files[name].name == "__init__.py"


def _absolute(node: ast.ImportFrom, module: str, files: Mapping[str, Path]) -> Optional[str]:
    """The dotted name (relative to the package) that a ``from`` import starts from."""
    if node.level == 0:
        target = node.module or ""
        if target != NAME and not target.startswith(NAME + "."):
            return None
        return target[len(NAME) + 1 :]
    base = module.split(".") if module else []
    if not _is_package(module, files):
        base = base[:-1]
    base = base[: len(base) - (node.level - 1)] if node.level > 1 else base
    if node.module:
        base += node.module.split(".")
    return ".".join(base)


def imports_of(module: str, files: Mapping[str, Path]) -> Tuple[Set[str], Set[str]]:
    """(modules of the package that ``module`` imports, top-level outside names)."""
    tree = ast.parse(files[module].read_text(encoding="utf-8"))
    inside: Set[str] = set()
    outside: Set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == NAME or alias.name.startswith(NAME + "."):
                    inside.add(alias.name[len(NAME) + 1 :])
                else:
                    outside.add(alias.name.split(".")[0])
        elif isinstance(node, ast.ImportFrom):
            if node.module == "__future__":
                continue
            base = _absolute(node, module, files)
            if base is None:
                outside.add((node.module or "").split(".")[0])
                continue
            for alias in node.names:
                sub = f"{base}.{alias.name}" if base else alias.name
                inside.add(sub if sub in files else base)
    return inside, outside


def _with_packages(module: str, target: str) -> List[str]:
    """``target`` and the packages whose ``__init__`` importing it runs (those that
    do not already contain ``module``; the package root is left to its own rule)."""
    parts = target.split(".")
    out = [target]
    for i in range(1, len(parts)):
        parent = ".".join(parts[:i])
        if not (module == parent or module.startswith(parent + ".")):
            out.append(parent)
    return out


def import_graph(files: Mapping[str, Path]) -> Dict[str, Set[str]]:
    """module -> the modules it imports (explicitly, or through a package's __init__).

    A package whose ``__init__`` imports nothing (a docstring, ``__all__``) cannot
    pull anything in or close a cycle, so running it is not counted as an import.
    """
    explicit = {module: imports_of(module, files)[0] - {module} for module in files}
    graph: Dict[str, Set[str]] = {}
    for module, inside in explicit.items():
        edges: Set[str] = set()
        for target in inside:
            edges.update(
                t
                for t in _with_packages(module, target)
                if t in files and t != module and (t == target or explicit[t])
            )
        graph[module] = edges
    return graph


# ----------------------------------------------------------------------------- the rules


def layer_of(module: str, layers: Sequence[Tuple[str, Tuple[str, ...]]] = LAYERS) -> int:
    """The index in ``layers`` of the nearest entry naming ``module`` or a package of it."""
    best: Tuple[int, int] = (-1, -1)  # (length of the matching name, layer index)
    for index, (_layer, names) in enumerate(layers):
        for name in names:
            if module == name or module.startswith(name + "."):
                best = max(best, (len(name), index))
    if best[1] < 0:
        raise AssertionError(f"module {module!r} is in no layer; add it to LAYERS")
    return best[1]


def find_cycle(graph: Mapping[str, Iterable[str]]) -> Optional[List[str]]:
    """A cycle of ``graph`` as a path (first == last), or None when it has none."""
    state: Dict[str, int] = {}  # 1: on the current path, 2: done
    path: List[str] = []

    def visit(node: str) -> Optional[List[str]]:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state:
            found = visit(start)
            if found:
                return found
    return None


def violations(
    graph: Mapping[str, Iterable[str]],
    layers: Sequence[Tuple[str, Tuple[str, ...]]] = LAYERS,
    reexport_only: Sequence[str] = REEXPORT_ONLY,
) -> List[str]:
    """Every broken rule of ``graph``, in words; empty when the layering holds."""
    problems: List[str] = []
    for module, targets in sorted(graph.items()):
        for target in sorted(targets):
            if target in reexport_only:
                problems.append(f"{module} imports {target or NAME}, which only re-exports")
                continue
            if module in reexport_only:
                continue
            low, high = layer_of(module, layers), layer_of(target, layers)
            if high > low:
                problems.append(
                    f"{module} ({layers[low][0]}) imports {target} ({layers[high][0]}), "
                    "a layer above it"
                )
    cycle = find_cycle(graph)
    if cycle:
        problems.append("import cycle: " + " -> ".join(m or NAME for m in cycle))
    return problems


_STDLIB_ELSEWHERE = frozenset(
    {"msvcrt", "winreg", "_winapi", "fcntl", "termios", "pwd", "grp", "tomllib"}
)
"""Standard modules of one platform or of a newer Python (imported behind a check),
which find_spec cannot see here."""


def _stdlib(name: str) -> bool:
    if name in _STDLIB_ELSEWHERE or name in sys.builtin_module_names:
        return True
    names = getattr(sys, "stdlib_module_names", None)
    if names is not None:
        return name in names
    spec = importlib.util.find_spec(name)  # pragma: no cover - Python 3.9
    origin = "" if spec is None or spec.origin is None else spec.origin
    return origin in ("built-in", "frozen") or origin.startswith(sysconfig.get_paths()["stdlib"])


# ----------------------------------------------------------------------------- the package


FILES = module_files()
GRAPH = import_graph(FILES)


def test_the_package_keeps_its_layers_and_has_no_cycle() -> None:
    assert violations(GRAPH) == []


def test_every_module_is_in_a_layer() -> None:
    for module in FILES:
        if module not in REEXPORT_ONLY:
            layer_of(module)


def test_the_walk_sees_lazy_and_type_checking_imports() -> None:
    # planning's plan() imports rollout inside a function and under TYPE_CHECKING only
    assert "rollout" in GRAPH["planning.planner"]
    assert "tools.config" in GRAPH["rollout"]  # Rollout.from_config, inside the method
    assert "_files" in GRAPH["engine.state"]  # 0.1's RolloutState.load/save


def test_the_engine_reaches_no_storage_tools_or_shell() -> None:
    reached: Set[str] = set()
    frontier = [m for m in FILES if m == "engine" or m.startswith("engine.")]
    while frontier:
        module = frontier.pop()
        for target in GRAPH[module]:
            if target not in reached:
                reached.add(target)
                frontier.append(target)
    forbidden = ("storage", "tools", "rollout", "planning", "dashboard")
    assert not {m for m in reached if m.split(".")[0] in forbidden}


def test_the_core_and_the_shell_import_only_the_standard_library() -> None:
    top = [name for name, _ in LAYERS].index(STDLIB_ONLY_UP_TO)
    for module in FILES:
        if module in REEXPORT_ONLY or layer_of(module) > top:
            continue
        _, outside = imports_of(module, FILES)
        assert {name for name in outside if not _stdlib(name)} == set(), module


@pytest.mark.parametrize("module", REEXPORT_ONLY)
def test_the_public_faces_only_re_export(module: str) -> None:
    tree = ast.parse(FILES[module].read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            continue
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            continue  # the docstring
        if isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names = {t.id for t in targets if isinstance(t, ast.Name)}
            assert names <= {"__all__"}, f"{module}: assigns {names!r}"
            continue
        if isinstance(node, ast.FunctionDef) and node.name in ("__getattr__", "__dir__"):
            continue  # a lazy re-export
        if isinstance(node, ast.If):
            continue  # `if TYPE_CHECKING:` imports, or __main__'s `if __name__ == ...`
        raise AssertionError(f"{module}: {type(node).__name__} at line {node.lineno}")


def test_architecture_md_mirrors_the_layers() -> None:
    text = (ROOT / "ARCHITECTURE.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| (\d+) \| `(\w+)` \| ([^|]+) \|", text, flags=re.MULTILINE)
    assert rows, "ARCHITECTURE.md has no layer table"
    table = [(layer, tuple(re.findall(r"`([\w.]+)`", members))) for _, layer, members in rows]
    assert [int(n) for n, _, _ in rows] == list(range(len(LAYERS)))
    assert table == [(layer, names) for layer, names in LAYERS]


# ----------------------------------------------------------------------------- the checker


SMALL_LAYERS = (("low", ("a",)), ("mid", ("b",)), ("high", ("c",)))


def test_the_checker_passes_a_clean_graph() -> None:
    assert violations({"a": set(), "b": {"a"}, "c": {"a", "b"}}, SMALL_LAYERS, ()) == []


def test_the_checker_fails_on_an_upward_edge() -> None:
    problems = violations({"a": {"c"}, "b": set(), "c": set()}, SMALL_LAYERS, ())
    assert problems == ["a (low) imports c (high), a layer above it"]


def test_the_checker_fails_on_a_cycle_even_within_one_layer() -> None:
    layers = (("low", ("a",)), ("high", ("b",)))
    graph = {"a": set(), "b": {"b.x"}, "b.x": {"b.y"}, "b.y": {"b"}}
    assert violations(graph, layers, ()) == ["import cycle: b -> b.x -> b.y -> b"]


def test_the_checker_fails_when_a_module_imports_a_public_face() -> None:
    problems = violations({"a": {""}, "": {"a"}}, SMALL_LAYERS, ("",))
    assert problems[0] == "a imports quant_rollout, which only re-exports"


def test_the_walk_sees_an_import_inside_a_function_and_under_type_checking(
    tmp_path: Path,
) -> None:
    pkg = tmp_path / NAME
    (pkg / "engine").mkdir(parents=True)
    (pkg / "storage").mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "engine" / "__init__.py").write_text("from . import state\n")
    (pkg / "storage" / "__init__.py").write_text("")
    (pkg / "storage" / "store.py").write_text("from ..engine import state\n")
    (pkg / "engine" / "state.py").write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from ..storage import store\n"
        "def load():\n    from quant_rollout.storage.store import x\n"
    )
    files = module_files(pkg)
    graph = import_graph(files)
    assert graph["engine.state"] == {"storage.store"}  # storage/__init__ imports nothing
    assert graph["storage.store"] == {"engine", "engine.state"}  # engine/__init__ runs
    assert graph["engine"] == {"engine.state"}
    problems = violations(graph)
    assert "engine.state (engine) imports storage.store (storage), a layer above it" in problems
    assert any(p.startswith("import cycle: ") for p in problems)
