"""dvc.yaml is generated from the stage registry and the code (smpp_utils/pipeline): the
committed file must be what the generator writes, every module a stage's notebook imports is
a declared dep of that stage, and every knob its code reads is one of its params - so editing
a module or a knob reruns exactly the stages that use it, and nothing is kept equal by hand."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import yaml

from smpp_utils.core import knobs
from smpp_utils.pipeline import dvcgen, scan, stages

ROOT = Path(__file__).resolve().parents[1]
SECTIONS = tuple(knobs.SECTIONS)


def test_committed_dvc_yaml_is_the_generated_one():
    diff = dvcgen.check(ROOT, "sim")
    assert not diff, "dvc.yaml is stale; run `python -m smpp_utils dvc-yaml`:\n" + "\n".join(diff[:40])


def test_closure_follows_relative_and_package_imports(tmp_path):
    pkg = tmp_path / scan.PKG
    (pkg / "core").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "core" / "__init__.py").write_text("")
    (pkg / "core" / "a.py").write_text("from . import b\n")
    (pkg / "core" / "b.py").write_text("def f():\n    from ..other import c\n")
    (pkg / "other.py").write_text("import os\n")
    (pkg / "unused.py").write_text("")
    got = {p.as_posix() for p in scan.closure(tmp_path, {"smpp_utils.core.a"})}
    assert got == {"smpp_utils/__init__.py", "smpp_utils/core/__init__.py", "smpp_utils/core/a.py",
                   "smpp_utils/core/b.py", "smpp_utils/other.py"}
    # a folder whose every module is used stands for them; otherwise the files are listed
    assert scan.covering_deps(tmp_path, {Path(p) for p in got}) == [
        "smpp_utils/__init__.py", "smpp_utils/other.py", "smpp_utils/core"]
    part = {Path("smpp_utils/core/a.py"), Path("smpp_utils/__init__.py")}
    assert scan.covering_deps(tmp_path, part) == ["smpp_utils/__init__.py", "smpp_utils/core/a.py"]


@pytest.mark.parametrize("name", sorted(stages.NOTEBOOK_STAGES))
def test_every_imported_module_is_a_dep(name):
    source = next(src for src in stages.SOURCE_CAPABILITIES if stages.stage(name).needs <= stages.capabilities(src))
    spec = dvcgen.generate(source, ROOT)["stages"][name]
    deps = [d.rstrip("/") for d in spec["deps"]]
    nb = ROOT / "notebooks" / f"{stages.NOTEBOOK_STAGES[name]}.ipynb"
    missing = [m.as_posix() for m in scan.notebook_modules(ROOT, nb)
               if not any(m.as_posix() == d or m.as_posix().startswith(d + "/") for d in deps)]
    assert not missing, f"stage {name}: imported but not a dep: {missing}"


def test_knob_reads_are_found_by_call_shape():
    code = '''
from smpp_utils.core import config
cfg = config.stage("jrpp", profile, overrides)
other = config.section("data", p)
one = config.knob("prototypes.clip_model", p)
EXTRA_KNOBS = ("tail.tail_threshold", ("boosting", "select_frac"))
PAIR_KNOBS = {("finetune", "epochs"): 1}
not_a_knob = config.knob("nosuch.key", p)
'''
    got = scan.reads_in(ast.parse(code), "nb", SECTIONS)
    assert got == {"jrpp", "data", "prototypes.clip_model", "tail.tail_threshold",
                   "boosting.select_frac", "finetune.epochs"}


def test_untraceable_params_access_is_refused_in_stage_code():
    with pytest.raises(ValueError, match="cannot trace"):
        scan.reads_in(ast.parse("x = config.profile_block(p)"), "smpp_utils/jrpp/x.py", SECTIONS)
    assert scan.reads_in(ast.parse("x = config.load_params()"), "smpp_utils/pipeline/runner.py", SECTIONS) == set()


def test_a_knob_read_in_a_module_becomes_a_param_of_the_stage(tmp_path):
    """Derivation end to end: a notebook importing a module that reads one knob of another
    section gets that knob - and only it - as a param; the section it reads whole, whole."""
    pkg = tmp_path / scan.PKG
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "m.py").write_text("from .core import config\ndef f(p):\n    return config.knob('tail.tail_threshold', p)\n")
    nb = tmp_path / "nb.ipynb"
    nb.write_text('{"cells": [{"cell_type": "code", "source": ["import smpp_utils.m\\n", '
                  '"cfg = config.stage(\\"jrpp\\", profile, overrides)"]}]}')
    mods = scan.notebook_modules(tmp_path, nb)
    assert scan.knob_reads(tmp_path, nb, mods, SECTIONS) == ["jrpp", "tail.tail_threshold"]


def test_results_depends_on_every_report_of_the_other_stages():
    spec = dvcgen.generate("sim", ROOT)["stages"]
    deps = set(spec["results"]["deps"])
    for s in stages.applicable("sim"):
        if s.name != "results":
            for f in s.report_files():
                if not f.startswith("timings/"):
                    assert f"${{profile.reports}}/{f}" in deps, (s.name, f)


def test_every_plot_is_a_stage_output_with_x_and_y():
    d = yaml.safe_load((ROOT / "dvc.yaml").read_text())
    outs = {o if isinstance(o, str) else next(iter(o)) for s in d["stages"].values() for o in s.get("outs", [])}
    for p in d["plots"]:
        (path, props), = p.items()
        assert path in outs and props["x"] and props["y"], path


def test_stages_of_a_source_without_images():
    """SMP-Video has no images or categories: the SMPD stages do not apply there."""
    names = [s.name for s in stages.applicable("smp_video")]
    assert "prototypes" not in names and "finetune" not in names and names[-1] == "results"
    assert "regimes" not in [s.name for s in stages.applicable("smpd")]
    assert "regimes" in [s.name for s in stages.applicable("sim")]


def test_brace_expansion():
    assert stages.expand("tables/t.{md,csv}") == ["tables/t.md", "tables/t.csv"]
    assert stages.expand("metrics/m.json") == ["metrics/m.json"]
