"""What a stage's code is made of, found in the code itself: the package modules its notebook
imports (directly or through the package, lazily in functions too) and the params.yaml knobs
that code reads. :mod:`.dvcgen` turns both into the stage's ``deps`` and ``params`` in
dvc.yaml, so editing a module or a knob reruns exactly the stages that use it.

Knob reads are found by their call shape (the first argument a string constant):

* ``config.stage("jrpp", ...)`` / ``config.section("jrpp", ...)`` - the whole section;
* ``config.knob("prototypes.clip_model", ...)`` - one knob;
* a name ending in ``_KNOBS`` bound to a literal collection of ``"section.key"`` strings or
  ``("section", "key")`` pairs (dict keys count) - knobs a module reads by looping over them.

Anything else that reaches params.yaml (``config.load_params``, ``config.profile_block``)
cannot be traced, and :func:`knob_reads` refuses it outside the pipeline room.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path

PKG = "smpp_utils"
UNTRACEABLE = ("load_params", "profile_block")
# modules allowed to read params.yaml wholesale: the config/knob machinery itself and the
# pipeline room (runner, pre-flight), which is not stage code
WHOLESALE_OK = ("smpp_utils/core/config.py", "smpp_utils/core/knobs.py", "smpp_utils/pipeline/")


# ----------------------------------------------------------------------------- imports
def module_file(root: Path, name: str) -> Path | None:
    p = root / Path(*name.split("."))
    if (p / "__init__.py").is_file():
        return p / "__init__.py"
    return p.with_suffix(".py") if p.with_suffix(".py").is_file() else None


def imported_names(tree: ast.AST, module: str, is_package: bool) -> set[str]:
    """Dotted names of smpp_utils modules (or of names inside them) imported anywhere in
    ``tree``; relative imports resolved against ``module``."""
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
    """Files (relative to ``root``) of every module reachable from ``names``; importing
    ``a.b.c`` runs ``a/__init__`` and ``a/b/__init__`` too."""
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


def notebook_code(path: Path) -> str:
    """The code cells of a notebook (IPython magics and shell lines dropped)."""
    nb = json.loads(path.read_text())
    return "\n".join(line for c in nb["cells"] if c["cell_type"] == "code"
                     for line in "".join(c["source"]).splitlines()
                     if not line.lstrip().startswith(("%", "!")))


def notebook_modules(root: Path, notebook: Path) -> set[Path]:
    return closure(root, imported_names(ast.parse(notebook_code(notebook)), "__notebook__", False))


def covering_deps(root: Path, files: set[Path]) -> list[str]:
    """The fewest paths that cover ``files``: a folder whose every module is among them
    stands for all of them (and for its package data, e.g. model configs); else the files."""
    files = {f.as_posix() for f in files}

    def walk(d: Path) -> list[str]:
        mods = sorted(p.relative_to(root).as_posix() for p in d.rglob("*.py")
                      if "__pycache__" not in p.parts)
        if mods and all(m in files for m in mods) and d != root / PKG:
            return [d.relative_to(root).as_posix()]
        out = sorted(f for f in files if Path(f).parent == d.relative_to(root))
        for sub in sorted(p for p in d.iterdir() if p.is_dir() and p.name != "__pycache__"):
            out += walk(sub)
        return out

    return walk(root / PKG)


# ----------------------------------------------------------------------------- knob reads
def _const_str(node) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def _calls(tree: ast.AST):
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            f = node.func
            name = f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else None
            yield name, node


def _knob_literals(value: ast.AST) -> list[str]:
    items = value.keys if isinstance(value, ast.Dict) else getattr(value, "elts", [])
    out = []
    for it in items:
        if (s := _const_str(it)) is not None:
            out.append(s)
        elif isinstance(it, ast.Tuple) and len(it.elts) == 2 and all(_const_str(e) for e in it.elts):
            out.append(".".join(_const_str(e) for e in it.elts))
    return out


def reads_in(tree: ast.AST, where: str, sections) -> set[str]:
    """``{"jrpp", "prototypes.clip_model", ...}`` read by the code ``tree`` (``where`` names it
    in errors); ``sections``: the params.yaml section names."""
    out: set[str] = set()
    for name, call in _calls(tree):
        first = _const_str(call.args[0]) if call.args else None
        if name in ("stage", "section") and first in sections:
            out.add(first)
        elif name == "knob" and first and first.split(".")[0] in sections:
            out.add(first)
        elif name in UNTRACEABLE and not where.startswith(WHOLESALE_OK):
            raise ValueError(f"{where}: {name}() reads params.yaml in a way the dvc.yaml generator "
                             "cannot trace; use config.stage('<section>') or config.knob('<section>.<key>')")
    for node in ast.walk(tree):
        if isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(isinstance(t, ast.Name) and t.id.endswith("_KNOBS") for t in targets) and node.value is not None:
                out |= {k for k in _knob_literals(node.value) if k.split(".")[0] in sections}
    return out


def knob_reads(root: Path, notebook: Path | None, modules: set[Path], sections) -> list[str]:
    """Sections and single knobs read by a notebook and the modules it imports; a single knob
    of a section read whole is dropped."""
    found: set[str] = set()
    if notebook is not None:
        found |= reads_in(ast.parse(notebook_code(notebook)), notebook.relative_to(root).as_posix(), sections)
    for mod in modules:
        found |= reads_in(ast.parse((root / mod).read_text()), mod.as_posix(), sections)
    whole = {f for f in found if "." not in f}
    return sorted(f for f in found if "." not in f or f.split(".")[0] not in whole)
