"""Every smpp_utils module a stage's notebook imports - directly or through the package,
relative imports and package ``__init__`` files included - is covered by a declared dep of
that stage in dvc.yaml (a folder dep covers the files under it). Otherwise editing the module
reruns nothing and ``dvc status`` wrongly says the results are current."""

from __future__ import annotations

import ast
from pathlib import Path

import nbformat
import pytest
import yaml

from smpp_utils.core.pipeline import STAGES

ROOT = Path(__file__).resolve().parents[1]
PKG = "smpp_utils"


def module_file(root: Path, name: str) -> Path | None:
    p = root / Path(*name.split("."))
    if (p / "__init__.py").is_file():
        return p / "__init__.py"
    return p.with_suffix(".py") if p.with_suffix(".py").is_file() else None


def imported_names(tree: ast.AST, module: str, is_package: bool) -> set[str]:
    """Dotted names of smpp_utils modules (or of names inside them) imported anywhere in
    ``tree`` (lazy imports in functions too); relative imports resolved against ``module``."""
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.split(".")[0] == PKG}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".") if is_package else module.split(".")[:-1]
                base = base[:len(base) - (node.level - 1)]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module or ""
            if name.split(".")[0] == PKG:
                out.add(name)
                out |= {f"{name}.{a.name}" for a in node.names}   # `from pkg import module`
    return out


def closure(root: Path, names: set[str]) -> set[Path]:
    """Files of every module reachable from ``names``; importing ``a.b.c`` runs ``a/__init__``
    and ``a/b/__init__`` too."""
    seen: set[str] = set()
    files: set[Path] = set()
    todo = list(names)
    while todo:
        parts = todo.pop().split(".")
        for i in range(1, len(parts) + 1):
            name = ".".join(parts[:i])
            path = module_file(root, name)
            if path is None or name in seen:
                continue
            seen.add(name)
            files.add(path.relative_to(root))
            tree = ast.parse(path.read_text(), filename=str(path))
            todo.extend(imported_names(tree, name, path.name == "__init__.py"))
    return files


def notebook_modules(root: Path, notebook: Path) -> set[Path]:
    nb = nbformat.read(notebook, as_version=4)
    code = "\n".join(line for c in nb.cells if c.cell_type == "code"
                     for line in c.source.splitlines() if not line.lstrip().startswith(("%", "!")))
    return closure(root, imported_names(ast.parse(code), "__notebook__", False))


def uncovered(root: Path, dvc_spec: dict) -> list[tuple[str, str]]:
    """(stage, module file) pairs imported by the stage's notebook but not covered by a dep."""
    missing = []
    for stage, name in STAGES.items():
        deps = [str(d).rstrip("/") for d in dvc_spec["stages"][stage].get("deps", [])]
        for mod in sorted(notebook_modules(root, root / "notebooks" / f"{name}.ipynb")):
            m = mod.as_posix()
            if not any(m == d or m.startswith(d + "/") for d in deps):
                missing.append((stage, m))
    return missing


def test_closure_follows_relative_and_package_imports(tmp_path):
    pkg = tmp_path / PKG
    (pkg / "core").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "core" / "__init__.py").write_text("")
    (pkg / "core" / "a.py").write_text("from . import b\n")
    (pkg / "core" / "b.py").write_text("def f():\n    from ..other import c\n")
    (pkg / "other.py").write_text("import os\n")
    (pkg / "unused.py").write_text("")
    got = {p.as_posix() for p in closure(tmp_path, {"smpp_utils.core.a"})}
    assert got == {"smpp_utils/__init__.py", "smpp_utils/core/__init__.py", "smpp_utils/core/a.py",
                   "smpp_utils/core/b.py", "smpp_utils/other.py"}


def test_uncovered_names_the_pair(tmp_path):
    spec = {"stages": {s: {"deps": ["smpp_utils/core", "smpp_utils/__init__.py"]} for s in STAGES}}
    missing = uncovered(ROOT, spec)
    assert ("data", "smpp_utils/data/prepare.py") in missing
    assert not any(m.startswith("smpp_utils/core/") for _, m in missing)


@pytest.mark.parametrize("stage", sorted(STAGES))
def test_stage_deps_cover_every_imported_module(stage):
    spec = yaml.safe_load((ROOT / "dvc.yaml").read_text())
    missing = [m for s, m in uncovered(ROOT, spec) if s == stage]
    assert not missing, (f"dvc.yaml stage {stage!r} imports modules that are not declared deps "
                         f"(add them, or their folder, to its deps): {missing}")


def test_every_plot_is_a_stage_output():
    """``dvc plots show`` reads only files some stage writes (a stale entry renders nothing)."""
    d = yaml.safe_load((ROOT / "dvc.yaml").read_text())
    outs = {o if isinstance(o, str) else next(iter(o)) for s in d["stages"].values() for o in s.get("outs", [])}
    plots = [p if isinstance(p, str) else next(iter(p)) for p in d.get("plots", [])]
    assert plots and not [p for p in plots if p not in outs]
