"""The shape of the code holds: imports run only downwards through the layers, no import cycles.

Every ``import`` of every module of ``fewshot`` and ``episodes`` is read from its source (function
bodies included, so a function-local import cannot hide an upward dependency or a cycle) and
checked against the layer order of ``../shared/ARCHITECTURE.md``:

    cli -> commands -> {reporting, engine} -> evaluation -> {runs, configs_lookup} -> interpolation
        -> learners -> {config, losses} -> {episodes, data, transductive, backbones, optim, augment}
        -> distances
        -> {registry, atomic}

A module may import its own package and any package of a lower layer; packages that share a
layer do not import each other.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Dict, List, Set

import pytest

ROOT = Path(__file__).resolve().parents[1]

LAYERS: List[List[str]] = [
    ["fewshot.__main__"],
    ["fewshot.cli"],
    ["fewshot.commands"],
    ["fewshot.reporting", "fewshot.engine"],
    ["fewshot.evaluation"],
    ["fewshot.runs", "fewshot.configs_lookup"],
    ["fewshot.interpolation"],
    ["fewshot.learners"],
    ["fewshot.config", "fewshot.losses"],
    ["episodes", "fewshot.data", "fewshot.transductive", "fewshot.backbones", "fewshot.optim", "fewshot.augment"],
    ["fewshot.distances"],
    ["fewshot.registry", "fewshot.atomic"],
    ["fewshot"],  # the package itself (its __init__ holds only the version)
]


def _modules() -> Dict[str, Path]:
    out = {}
    for top in ("fewshot", "episodes"):
        for path in sorted((ROOT / top).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            out[".".join(parts)] = path
    return out


MODULES = _modules()


def _imports(name: str, path: Path) -> Set[str]:
    """The fewshot / episodes modules (or packages) that module ``name`` imports."""
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        targets = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - (node.level - 1)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            targets = [f"{module}.{a.name}" if f"{module}.{a.name}" in MODULES else module for a in node.names]
        found.update(t for t in targets if t.split(".")[0] in ("fewshot", "episodes"))
    return found


GRAPH = {name: _imports(name, path) for name, path in MODULES.items()}


def _unit(module: str) -> str:
    """The layer entry a module belongs to (its longest matching package prefix)."""
    best = ""
    for layer in LAYERS:
        for unit in layer:
            if (module == unit or module.startswith(unit + ".")) and len(unit) > len(best):
                best = unit
    return best


def _rank(unit: str) -> int:
    return next(i for i, layer in enumerate(LAYERS) if unit in layer)


def test_every_module_has_a_layer():
    missing = [m for m in MODULES if not _unit(m)]
    assert not missing, f"modules outside every layer (add them to LAYERS): {missing}"


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_only_go_down(module):
    here = _unit(module)
    bad = []
    for target in sorted(GRAPH[module]):
        there = _unit(target)
        if there == here:
            continue
        if _rank(there) <= _rank(here):
            bad.append(f"{target} ({there}, layer {_rank(there)})")
    assert not bad, f"{module} ({here}, layer {_rank(here)}) imports upwards or sideways: {bad}"


def test_episodes_depends_on_torch_and_numpy_only():
    allowed = {"torch", "numpy", "episodes", "__future__"}
    import sys

    stdlib = set(sys.stdlib_module_names)
    for name, path in MODULES.items():
        if not name.startswith("episodes"):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                roots = [a.name.split(".")[0] for a in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level:
                roots = [(node.module or "").split(".")[0]]
            else:
                continue
            for root in roots:
                assert root in allowed or root in stdlib, f"{name} imports {root}"


def test_no_import_cycles():
    """No cycle among modules (a package's __init__ importing its own submodules aside)."""
    def edges(m):
        # a submodule importing its own package's __init__ is the package importing itself
        return {t for t in GRAPH[m] if t in MODULES and not m.startswith(t + ".")}

    state: Dict[str, int] = {}
    stack: List[str] = []
    cycles = []

    def visit(m):
        state[m] = 1
        stack.append(m)
        for t in sorted(edges(m)):
            if state.get(t) == 1:
                cycles.append(stack[stack.index(t):] + [t])
            elif t not in state:
                visit(t)
        stack.pop()
        state[m] = 2

    for m in sorted(MODULES):
        if m not in state:
            visit(m)
    assert not cycles, f"import cycles: {cycles[:5]}"


def test_the_checker_catches_an_upward_import(tmp_path):
    """The rules above can fail: a learner module importing the engine, even inside a function,
    is seen and ranked as an upward import."""
    path = tmp_path / "fake.py"
    path.write_text("def f():\n    from ..engine.trainer import train\n    from .base import Learner\n")
    found = _imports("fewshot.learners.fake", path)
    assert found == {"fewshot.engine.trainer", "fewshot.learners.base"}
    assert _rank(_unit("fewshot.engine.trainer")) < _rank(_unit("fewshot.learners.fake"))
    assert _unit("fewshot.runs.build") == "fewshot.runs"
    assert _unit("fewshot.data.glyphs.load") == "fewshot.data"
