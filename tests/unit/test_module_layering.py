"""chalicelib's imports form no cycle: no module imports (even for type checking only) a module
that imports it back, directly or through others, and no package does either."""

from __future__ import annotations

import ast
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _modules() -> dict[str, Path]:
    found = {}
    for path in (ROOT / "chalicelib").rglob("*.py"):
        parts = path.relative_to(ROOT).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


MODULES = _modules()


def _imported(name: str, path: Path) -> set[str]:
    """The chalicelib modules `name` imports anywhere in its text: at the top, in a function, or
    under `if TYPE_CHECKING`."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    imported = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            imported |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parent, *([node.module] if node.module else [])])
            # `from chalicelib import keys` imports the module keys; `from chalicelib.keys import x`, keys.
            imported |= {f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base for alias in node.names}
    return {module for module in imported if module in MODULES and module != name}


GRAPH = {name: _imported(name, path) for name, path in MODULES.items()}


def _package(module: str) -> str:
    """chalicelib's package the module is in (`files` for chalicelib.files.store), or the module itself."""
    return module.split(".")[1] if "." in module else module


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    try:
        tuple(TopologicalSorter(graph).static_order())
    except CycleError as error:
        return list(error.args[1])
    return None


def test_the_import_reader_sees_imports_of_every_kind() -> None:
    assert "chalicelib.keys" in GRAPH["chalicelib.tenancy.store"]  # from chalicelib import keys
    assert "chalicelib.queries.guard" in GRAPH["chalicelib.queries.engine"]  # under TYPE_CHECKING
    assert "chalicelib.ingest.convert" in GRAPH["chalicelib.services"]  # inside a function
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) is not None


def test_no_module_imports_a_module_that_imports_it_back() -> None:
    assert _cycle(GRAPH) is None


def test_no_package_imports_a_package_that_imports_it_back() -> None:
    packages: dict[str, set[str]] = {}
    for module, imported in GRAPH.items():
        packages.setdefault(_package(module), set()).update(
            _package(other) for other in imported if _package(other) != _package(module)
        )
    assert _cycle(packages) is None
