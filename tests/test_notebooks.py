"""House rules for the notebooks: committed without outputs, kernel python3, exactly one
``parameters`` cell whose names are exactly the knobs DVC passes for the stage, and stored in
the nbstripout filter's canonical form (else a fresh clone is dirty after ``make setup``)."""

import ast
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from smpp_utils.core import config
from smpp_utils.pipeline.stages import NOTEBOOK_STAGES as STAGES

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_clean(path):
    nb = nbformat.read(path, as_version=4)
    assert nb.metadata["kernelspec"]["name"] == "python3"
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert not cell.outputs and cell.execution_count is None, f"{path.name}: outputs committed"
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1, f"{path.name}: {len(tagged)} cells tagged 'parameters'"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_parameters_cell_is_profile_and_overrides(path):
    """A notebook receives its profile and a dict of overrides; it reads its knobs by name
    (``config.stage``), so no knob is listed in a second place."""
    nb = nbformat.read(path, as_version=4)
    cell = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    names = {}
    for node in ast.parse(cell.source).body:
        assert isinstance(node, ast.Assign), f"{path.name}: only plain assignments in the parameters cell"
        names[node.targets[0].id] = ast.literal_eval(node.value)
    assert names == {"profile": None, "overrides": None}, path.name


@pytest.mark.parametrize("stage", sorted(STAGES))
def test_notebook_reads_its_own_section_with_the_overrides(stage):
    nb = nbformat.read(ROOT / "notebooks" / f"{STAGES[stage]}.ipynb", as_version=4)
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    assert f'.stage("{stage}", profile, overrides)' in code


def test_overrides_are_validated_like_params_yaml():
    cfg = config.stage("jrpp", "ci", {"epochs": 2})
    assert cfg.epochs == 2 and cfg.profile == "ci"
    with pytest.raises(config.knobs.KnobError, match="ci.jrpp.epochs"):
        config.stage("jrpp", "ci", {"epochs": -1})
    with pytest.raises(KeyError, match="epochz"):
        config.stage("jrpp", "ci", {"epochz": 2})
    assert config.knob("prototypes.clip_model", "ci") == config.stage("prototypes", "ci").clip_model


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_git_filter_leaves_committed_notebook_unchanged(path):
    """`make setup` installs `nbstripout --install`: git then runs `python -m nbstripout` on
    every notebook (stdin -> stdout) to compare it with the index. nbstripout renumbers cell
    ids ("0", "1", ...); a notebook committed with nbformat's random ids shows as modified in a
    fresh clone. Fix with `make normalize-notebooks`."""
    raw = path.read_bytes()
    filtered = subprocess.run([sys.executable, "-m", "nbstripout"], input=raw,
                              capture_output=True, check=True).stdout
    assert filtered == raw, (f"{path.name}: not in the git filter's canonical form (cell ids or "
                             "outputs); run `make normalize-notebooks` and commit")
