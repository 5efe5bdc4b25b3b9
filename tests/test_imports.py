"""The package's module-level import graph has no cycle (dependencies read one way)."""
from __future__ import annotations

import ast
from pathlib import Path

PKG = Path(__file__).resolve().parent.parent / "focusmim"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PKG.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph(deferred: bool = False) -> dict[str, set[str]]:
    """module -> the package modules it imports at module level (with ``deferred``: inside functions too)."""
    modules = {module_name(p): p for p in PKG.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        is_pkg = path.name == "__init__.py"
        deps: set[str] = set()
        tree = ast.parse(path.read_text())
        for node in (ast.walk(tree) if deferred else tree.body):
            targets = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    pkg = name.split(".") if is_pkg else name.split(".")[:-1]
                    pkg = pkg[: len(pkg) - node.level + 1]
                    base = ".".join(pkg + ([base] if base else []))
                targets = [f"{base}.{a.name}" for a in node.names] + [base]
            for t in targets:
                while t and t not in modules:
                    t = t.rpartition(".")[0]
                if t and t != name and t.startswith("focusmim"):
                    deps.add(t)
        graph[name] = deps
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle as a path [a, b, ..., a], or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(n: str) -> list[str] | None:
        state[n] = 1
        stack.append(n)
        for m in sorted(graph.get(n, ())):
            if state.get(m) == 1:
                return stack[stack.index(m):] + [m]
            if m not in state and (c := visit(m)):
                return c
        stack.pop()
        state[n] = 2
        return None

    for n in sorted(graph):
        if n not in state and (c := visit(n)):
            return c
    return None


def test_find_cycle_finds_one():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_package_import_graph_has_no_cycle():
    graph = import_graph()
    assert "focusmim.config.core" in graph and graph["focusmim.config.core"]
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph))


# The floors of ARCHITECTURE.md, lowest first: a module imports only from its own floor or below. Each floor is one
# top-level folder of the package (two independent folders share the data floor).
LAYERS = [
    ("utils",),
    ("config",),
    ("data", "models"),
    ("evaluation",),
    ("store",),
    ("masking",),
    ("training",),
    ("experiments",),
    ("chapters",),
    ("planning",),
    ("book",),
    ("cli", "__main__"),
]


def unit(module: str) -> str:
    """``focusmim.data.base`` -> ``data``; the package itself -> ``focusmim``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "focusmim"


def layering_violations(graph: dict[str, set[str]], layers=LAYERS) -> list[str]:
    level = {u: i for i, names in enumerate(layers) for u in names}
    level["focusmim"] = -1  # the package's __init__ imports nothing at module level
    out = [f"{m}: not in a layer" for m in sorted(graph) if unit(m) not in level]
    for m, deps in sorted(graph.items()):
        for d in sorted(deps):
            if unit(d) in level and unit(m) in level and level[unit(d)] > level[unit(m)]:
                out.append(f"{m} imports {d}, a higher layer")
    return out


def test_imports_read_one_way_through_the_layers():
    assert layering_violations(import_graph(deferred=True)) == []
    # the configuration reads nothing above utils: the data's identity in the run key is its own module
    assert {unit(d) for m, deps in import_graph().items() if unit(m) == "config" for d in deps} == {"config", "utils"}


def test_the_layer_check_can_fail():
    assert layering_violations({"focusmim.utils.io": {"focusmim.training.train"}, "focusmim.new": set()}) == [
        "focusmim.new: not in a layer", "focusmim.utils.io imports focusmim.training.train, a higher layer"]


def deferred_package_imports() -> list[str]:
    """``module:line`` of every import of a package module inside a function (a hidden dependency)."""
    out = []
    for path in sorted(PKG.rglob("*.py")):
        tree = ast.parse(path.read_text())
        top = {id(n) for n in tree.body}
        for node in ast.walk(tree):
            if id(node) in top or not isinstance(node, (ast.Import, ast.ImportFrom)):
                continue
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            if getattr(node, "level", 0) or any(n == "focusmim" or n.startswith("focusmim.") for n in names):
                out.append(f"{module_name(path)}:{node.lineno}")
    return out


def test_no_cycle_even_through_imports_inside_functions():
    """A deferred import hides a cycle from the module-level graph; counting them too, there is none."""
    graph = import_graph(deferred=True)
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph))


def test_no_package_import_inside_a_function():
    """Every dependency between the package's modules is declared at the top of the module (optional third-party
    libraries such as rembg, plotly or ipywidgets may still load on first use)."""
    assert deferred_package_imports() == []


def test_the_deferred_import_check_can_fail(tmp_path, monkeypatch):
    pkg = tmp_path / "focusmim"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("def f():\n    from focusmim import b\n")
    (pkg / "b.py").write_text("from focusmim import a\n")
    monkeypatch.setattr(__import__(__name__, fromlist=["PKG"]), "PKG", pkg)
    assert deferred_package_imports() == ["focusmim.a:2"]
    assert find_cycle(import_graph(deferred=True)) in (["focusmim.a", "focusmim.b", "focusmim.a"],
                                                         ["focusmim.b", "focusmim.a", "focusmim.b"])
    assert find_cycle(import_graph()) is None


def test_the_package_top_level_is_its_floors():
    """A newcomer sees the layers: every entry of ``focusmim/`` is a floor's folder (the package's own
    ``__init__`` and ``__main__`` aside), at most 12 floors."""
    entries = {p.stem for p in PKG.iterdir() if p.name != "__pycache__" and (p.is_dir() or p.suffix == ".py")}
    folders = {u for names in LAYERS for u in names} - {"__main__"}
    assert entries - {"__init__", "__main__"} == folders
    assert all((PKG / f).is_dir() for f in folders)
    assert len(LAYERS) <= 12


def test_no_module_holds_several_jobs():
    """No module over 400 lines: a room past that splits along its seams (ARCHITECTURE.md)."""
    long = {str(p.relative_to(PKG)): n for p in PKG.rglob("*.py") if (n := len(p.read_text().splitlines())) > 400}
    assert long == {}
