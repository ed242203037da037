"""One name per thing and one place per helper (issue #19): read from the sources themselves.

Each check parses or greps `src/parallel_runs/`, so a second definition, a second copy of a
pattern, or an import across the layers fails here before it confuses a reader.
"""

from __future__ import annotations

import ast
import re
from collections import defaultdict
from pathlib import Path

SOURCES = Path(__file__).resolve().parents[2] / "src" / "parallel_runs"

# Entry points each command module or script defines under one conventional name.
CONVENTIONAL = {"main", "register", "build_parser"}


def _modules() -> dict[str, str]:
    """Each source module's text by its path under src/parallel_runs (migrations left out)."""
    return {
        path.relative_to(SOURCES).as_posix(): path.read_text()
        for path in sorted(SOURCES.rglob("*.py"))
        if "migrations" not in path.parts
    }


def _where(pattern: str) -> list[str]:
    """The modules whose text matches `pattern`."""
    return [name for name, text in _modules().items() if re.search(pattern, text)]


def test_each_public_class_and_function_is_defined_once() -> None:
    homes: dict[str, list[str]] = defaultdict(list)
    for name, text in _modules().items():
        for node in ast.parse(text).body:
            if isinstance(node, ast.ClassDef | ast.FunctionDef) and not node.name.startswith("_"):
                homes[node.name].append(name)
    twice = {
        symbol: where for symbol, where in homes.items() if len(where) > 1 and symbol not in CONVENTIONAL
    }
    assert twice == {}


def test_one_ansi_pattern() -> None:
    assert _where(r"re\.compile\(r?[\"']\\x1b") == ["files.py"]


def test_one_log_tail_reader() -> None:
    # Reading the end of a log is files.read_tail; github/progress.py streams an attempt's part of
    # the log to the job log in chunks (never all of it in memory), from where its limit starts.
    assert _where(r"\.seek\(0, 2\)|SEEK_END") == ["files.py", "github/progress.py"]
    assert _where(r"\bread_tail\(") == ["files.py", "gate/preflight.py"]


def test_one_liveness_check() -> None:
    assert _where(r"os\.kill\(\w+, 0\)") == ["holders.py"]


def test_the_layers_below_config_do_not_import_it() -> None:
    below = ("core/", "gate/", "git/", "store/", "report/", "github/", "maintenance/")
    # The action's steps are an entry point, as cli/ is: they build the settings of the mode they run.
    entry = ("github/action/",)
    importers = [
        name
        for name in _where(r"from parallel_runs\.config\b|import parallel_runs\.config\b")
        if name.startswith(below) and not name.startswith(entry)
    ]
    assert importers == []


def test_one_store_context_manager() -> None:
    # A `with` that only hands back the store and closes it: store/closing.py's Closing, once.
    assert _where(r"def __enter__\(self\) -> Self:\s+return self\n") == ["store/closing.py"]


def _imports() -> dict[str, set[str]]:
    """Each module (dotted) and the modules of ours it imports, at its top or inside a function."""
    names = {
        "parallel_runs." + path.removesuffix(".py").removesuffix("/__init__").replace("/", ".")
        for path in _modules()
    } | {"parallel_runs"}
    graph: dict[str, set[str]] = {}
    for path, text in _modules().items():
        module = "parallel_runs." + path.removesuffix(".py").removesuffix("/__init__").replace("/", ".")
        graph[module] = set()
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.ImportFrom) and node.module and node.module in names:
                for alias in node.names:
                    child = f"{node.module}.{alias.name}"
                    graph[module].add(child if child in names else node.module)
            elif isinstance(node, ast.Import):
                graph[module] |= {alias.name for alias in node.names if alias.name in names}
        graph[module].discard(module)
    return graph


def test_only_the_cli_imports_the_dashboard() -> None:
    # The report's HTML format renders the batch page's templates from report/, which the dashboard
    # imports: no arrow points up from the layers below into dashboard/.
    importers = sorted(
        module
        for module, imported in _imports().items()
        if not module.startswith(("parallel_runs.dashboard", "parallel_runs.cli"))
        and any(name.startswith("parallel_runs.dashboard") for name in imported)
    )
    assert importers == []


def _cycles(graph: dict[str, set[str]]) -> list[set[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[set[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for child in graph.get(node, ()):
            if child not in index:
                visit(child)
                low[node] = min(low[node], low[child])
            elif child in stack:
                low[node] = min(low[node], index[child])
        if low[node] == index[node]:
            component = set()
            while True:
                member = stack.pop()
                component.add(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(component)

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_import_cycle() -> None:
    assert _cycles(_imports()) == []


def _config_readers() -> dict[str, set[str]]:
    """Each config/ module (dotted) and the modules outside the config package that import from it,
    a name taken from `parallel_runs.config` counting for the module it is loaded from."""
    import parallel_runs.config

    readers: dict[str, set[str]] = defaultdict(set)
    for path, text in _modules().items():
        if path.startswith("config/__init__"):
            continue  # it only hands the names on
        module = "parallel_runs." + path.removesuffix(".py").removesuffix("/__init__").replace("/", ".")
        for node in ast.walk(ast.parse(text)):
            if not isinstance(node, ast.ImportFrom) or not node.module:
                continue
            if node.module == "parallel_runs.config":
                homes = {parallel_runs.config._HOMES[alias.name] for alias in node.names}
            elif node.module.startswith("parallel_runs.config."):
                homes = {node.module}
            else:
                continue
            for home in homes - {module}:
                readers[home].add(module)
    return readers


def test_a_command_s_settings_live_in_its_module_when_no_other_reads_them() -> None:
    # Issue #19 item 3: a config/X.py whose only reader is cli/X.py folds into cli/X.py.
    readers = _config_readers()
    twins = [
        name.removeprefix("cli/").removesuffix(".py")
        for name in _modules()
        if name.startswith("cli/")
        and name != "cli/__init__.py"
        and (SOURCES / "config" / name.removeprefix("cli/")).is_file()
    ]
    alone = {
        twin: sorted(readers[f"parallel_runs.config.{twin}"])
        for twin in twins
        if readers[f"parallel_runs.config.{twin}"] <= {f"parallel_runs.cli.{twin}"}
    }
    assert twins
    assert alone == {}
