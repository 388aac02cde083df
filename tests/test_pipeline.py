"""The runner publishes a stage's reports only when the whole stage succeeded; the pre-flight
names the params.yaml key of a missing input before anything runs; external inputs are
hashed by content; dvc.yaml keeps every profile's outputs apart and never lets DVC delete a
committed report; the results page and the determinism comparison."""

from __future__ import annotations

import json
import os
from pathlib import Path

import papermill
import pytest
import yaml

from smpp_utils.pipeline import results_page
from smpp_utils.core import config, determinism, paths
from smpp_utils.pipeline import preflight, runner as pipeline

ROOT = Path(__file__).resolve().parents[1]
DVC = yaml.safe_load((ROOT / "dvc.yaml").read_text())


# ----------------------------------------------------------------------------- runner
@pytest.fixture
def project(tmp_path, monkeypatch):
    """A project root with a committed table and data.json of profile ci, a stage 'data' that
    declares two report outs (and its timings), and no real notebook execution."""
    monkeypatch.setattr(paths, "ROOT", tmp_path)
    monkeypatch.setattr(preflight, "check", lambda profile=None, record=True: {})
    monkeypatch.setattr(pipeline, "notebook_parameters", lambda stage, profile: {})
    monkeypatch.setattr(pipeline, "applies", lambda stage, profile: None)
    monkeypatch.setattr(pipeline, "declared_report_outs",
                        lambda stage, profile: ["tables/t.md", "metrics/data.json", "timings/data.json"])
    monkeypatch.delenv(paths.STAGING_ENV, raising=False)
    (tmp_path / "notebooks").mkdir()
    rep = tmp_path / "reports" / "ci"
    (rep / "tables").mkdir(parents=True)
    (rep / "metrics").mkdir()
    (rep / "tables" / "t.md").write_text("old table\n")
    (rep / "tables" / "other.md").write_text("another stage's table\n")
    (rep / "metrics" / "data.json").write_text('{"oracle": 1}\n')
    return rep


def fake_notebook(monkeypatch, body):
    def execute(input_path, output_path, **kw):
        body(Path(output_path))
        Path(output_path).write_text("{}")
    monkeypatch.setattr(papermill, "execute_notebook", execute)


def test_stage_reports_appear_only_after_success(project, monkeypatch):
    seen = {}

    def body(out):
        rep = paths.reports_dir("ci")
        seen["reads"] = (rep / "metrics" / "data.json").read_text()   # an earlier stage's report
        (rep / "tables" / "t.md").write_text("new table\n")
        seen["final_during_run"] = (project / "tables" / "t.md").read_text()
        (rep / "metrics" / "data.json").write_text('{"oracle": 2}\n')

    fake_notebook(monkeypatch, body)
    other_mtime = (project / "tables" / "other.md").stat().st_mtime_ns
    published = pipeline.run("data", "ci")
    assert seen == {"reads": '{"oracle": 1}\n', "final_during_run": "old table\n"}
    assert (project / "tables" / "t.md").read_text() == "new table\n"
    assert (project / "metrics" / "data.json").read_text() == '{"oracle": 2}\n'
    assert "timings/data.json" in published and "notebooks/01_data.ipynb" in published
    assert (project / "tables" / "other.md").stat().st_mtime_ns == other_mtime   # untouched
    assert not (project / ".running").exists()
    assert not (paths.staging_root("ci") / "data").exists()
    assert os.environ.get(paths.STAGING_ENV) is None


def test_failed_stage_leaves_reports_as_they_were_and_marks_them(project, monkeypatch):
    def body(out):
        (paths.reports_dir("ci") / "tables" / "t.md").write_text("half\n")
        (paths.reports_dir("ci") / "tables" / "new.md").write_text("half\n")
        raise RuntimeError("cell 5 failed")

    fake_notebook(monkeypatch, body)
    with pytest.raises(RuntimeError, match="cell 5"):
        pipeline.run("data", "ci")
    assert (project / "tables" / "t.md").read_text() == "old table\n"
    assert not (project / "tables" / "new.md").exists()
    assert not (project / "notebooks").exists()
    marker = json.loads((project / ".running" / "data.json").read_text())
    assert marker["state"] == "failed" and "cell 5 failed" in marker["error"]


def test_stage_that_skips_a_declared_output_publishes_nothing(project, monkeypatch):
    def body(out):
        (paths.reports_dir("ci") / "tables" / "t.md").write_text("new table\n")  # no data.json

    fake_notebook(monkeypatch, body)
    with pytest.raises(pipeline.StageOutputMissing, match="metrics/data.json"):
        pipeline.run("data", "ci")
    assert (project / "tables" / "t.md").read_text() == "old table\n"


def test_staging_redirects_only_the_running_profile(monkeypatch, tmp_path):
    monkeypatch.setenv(paths.STAGING_ENV, str(tmp_path))
    monkeypatch.setenv("SMPP_PROFILE", "ci")
    assert paths.reports_dir("ci") == tmp_path
    assert paths.reports_dir("default") == paths.final_reports_dir("default")


def test_reports_folders_agree_with_params_yaml():
    params = config.load_params()
    for prof in config.PROFILES:
        if "reports" in params[prof]:
            assert params[prof]["reports"] == paths.REPORTS[prof], prof


def test_declared_report_outs_come_from_the_registry():
    outs = pipeline.declared_report_outs("data", "ci")
    assert "tables/table1_datasets.md" in outs and "metrics/data.json" in outs
    assert "timings/data.json" in outs
    assert all(f"${{profile.reports}}/{rel}" in str(DVC["stages"]["data"]) for rel in outs)


def test_a_stage_that_does_not_apply_to_the_profile_is_refused(monkeypatch):
    monkeypatch.setattr(pipeline.config, "knob", lambda dotted, profile=None: "smp_video")
    why = pipeline.applies("prototypes", "ci")
    assert "does not apply to profile ci" in why and "images" in why
    assert pipeline.applies("prototypes", "default") is not None
    monkeypatch.setattr(pipeline.config, "knob", lambda dotted, profile=None: "sim")
    assert pipeline.applies("regimes", "ci") is None


# ----------------------------------------------------------------------------- pre-flight
def _params(source="sim", smpd_root="", ckpt=""):
    return {"paper": {"data": {"source": source, "smpd_root": smpd_root},
                      "prototypes": {"clip_pretrained": ckpt}}}


def test_preflight_names_the_key_of_a_missing_folder_and_checkpoint(tmp_path):
    found = preflight.problems("paper", _params("smpd", str(tmp_path / "nope"), str(tmp_path / "w.pt")))
    assert found == [f"paper.data.smpd_root: {tmp_path / 'nope'} does not exist",
                     f"paper.prototypes.clip_pretrained: {tmp_path / 'w.pt'} does not exist"]
    assert preflight.problems("paper", _params("smpd", ""))[0].startswith("paper.data.smpd_root: empty")


def test_preflight_lists_missing_official_files(tmp_path):
    (tmp_path / "train_label.txt").write_text("1.0\n")
    (found,) = preflight.problems("paper", _params("smpd", str(tmp_path)))
    assert found.startswith(f"paper.data.smpd_root: {tmp_path} lacks train_category.json")
    assert "train_label.txt" not in found and "train_img_filepath.txt" in found


def test_preflight_cli_exits_2_before_anything_runs(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(paths, "ROOT", tmp_path)
    monkeypatch.setattr(config, "load_params", lambda: {"profile": {"name": "paper"},
                                                        **_params("smpd", "/x/SMPD")})
    monkeypatch.setattr(config, "active_profile", lambda explicit=None, params=None: "paper")
    assert preflight.main([]) == 2
    assert "paper.data.smpd_root: /x/SMPD does not exist" in capsys.readouterr().err
    assert not (tmp_path / "data").exists()


def _smpd_folder(root: Path) -> Path:
    from smpp_utils.data.schema import RAW_FILES

    for key, name in RAW_FILES.items():
        (root / name.format(split="train")).write_text(f"{key}\n")
    (root / "train_img_filepath.txt").write_text("train/u/1.jpg\ntrain/u/2.jpg\n")
    (root / "train" / "u").mkdir(parents=True)
    (root / "train" / "u" / "1.jpg").write_bytes(b"x" * 10)
    return root


def test_smpd_hash_follows_content_not_time(tmp_path):
    root = _smpd_folder(tmp_path)
    first = preflight.smpd_manifest(root)
    assert first["images"] == {"listed": 2, "missing": 1, "list_sha256": first["images"]["list_sha256"]}
    os.utime(root / "train_text.json", (1, 1))
    assert preflight.smpd_manifest(root) == first
    (root / "train_text.json").write_text("other titles\n")
    changed = preflight.smpd_manifest(root)
    assert changed["files"]["train_text.json"] != first["files"]["train_text.json"]
    assert changed["images"] == first["images"]
    (root / "train" / "u" / "2.jpg").write_bytes(b"y")
    assert preflight.smpd_manifest(root)["images"]["list_sha256"] != first["images"]["list_sha256"]


# ----------------------------------------------------------------------------- dvc.yaml
def _outs(stage):
    spec = DVC["stages"][stage]
    for kind in ("outs", "metrics"):
        for item in spec.get(kind, []):
            yield (item, {}) if isinstance(item, str) else next(iter(item.items()))


def test_every_output_is_per_profile_and_committed_reports_persist():
    for stage in DVC["stages"]:
        for path, opts in _outs(stage):
            assert path.startswith(("data/${profile.name}/", "models/${profile.name}/",
                                    "${profile.reports}/")), (stage, path)
            if opts.get("cache") is False and path.startswith("${profile.reports}/") \
                    and "/timings/" not in path:
                assert opts.get("persist") is True, f"{stage}: {path} would be deleted before a run"


def test_check_runs_first_and_feeds_data_and_prototypes():
    check = DVC["stages"]["check"]
    assert check["always_changed"] is True
    assert "data/${profile.name}/external/source.json" in DVC["stages"]["data"]["deps"]
    assert "data/${profile.name}/external/checkpoint.json" in DVC["stages"]["prototypes"]["deps"]
    from smpp_utils.pipeline import stages

    for stage in stages.applicable("sim"):
        assert DVC["stages"][stage.name]["cmd"] == f"python -m smpp_utils {stage.name}"


def test_plots_declared_for_the_numbers_behind_figures():
    declared = {next(iter(p)) if isinstance(p, dict) else p for p in DVC["plots"]}
    for name in ("tables/fig4_jrpp_ablation.csv", "tables/fig5_tta_sensitivity.csv",
                 "tables/table3_tail.csv", "figures/fig_tail_error_by_decile.csv"):
        assert "${profile.reports}/" + name in declared


# ----------------------------------------------------------------------------- results page
def test_results_page_groups_by_notebook_and_is_byte_stable(tmp_path, monkeypatch):
    monkeypatch.setattr(paths, "ROOT", tmp_path)
    (tmp_path / "params.yaml").write_text((ROOT / "params.yaml").read_text())
    rep = paths.final_reports_dir("ci")
    (rep / "tables").mkdir(parents=True)
    (rep / "figures").mkdir()
    (rep / "tables" / "table2_main.md").write_text("Table 2 caption.\n\n| a |\n|---|\n| 1 |\n")
    (rep / "tables" / "table2_main.csv").write_text("a\n1\n")
    (rep / "figures" / "fig3_distributions.png").write_bytes(b"png")
    (rep / "figures" / "fig3_distributions.csv").write_text("x\n")
    (rep / "figures" / "zz_new.png").write_bytes(b"png")
    page = results_page.render("ci")
    assert page == results_page.render("ci")
    assert page.index("## 01_data") < page.index("fig3_distributions.png") < page.index("## 04_jrpp") \
        < page.index("Table 2 caption.") < page.index("## Other outputs") < page.index("zz_new")
    assert "mirrors JRPP Table 2" in page and "[csv](tables/table2_main.csv)" in page
    assert "(figures/fig3_distributions.csv)" in page


# ----------------------------------------------------------------------------- determinism
def test_determinism_compare_finds_every_kind_of_difference(tmp_path, capsys):
    a, b = tmp_path / "a", tmp_path / "b"
    for root in (a, b):
        (root / "data/ci").mkdir(parents=True)
        (root / "reports/ci/timings").mkdir(parents=True)
        (root / "data/ci/same.bin").write_bytes(b"\x00\x01")
        (root / "reports/ci/timings/jrpp.json").write_text(str(root))
    (a / "data/ci/p.parquet").write_bytes(b"abc")
    (b / "data/ci/p.parquet").write_bytes(b"abd")
    (a / "data/ci/only_a.npz").write_bytes(b"")
    res = determinism.compare(a, b)
    assert res["same"] == ["data/ci/same.bin"] and res["differ"] == ["data/ci/p.parquet"]
    assert res["only_a"] == ["data/ci/only_a.npz"] and res["only_b"] == []
    assert res["skipped"] == ["reports/ci/timings/jrpp.json"]
    assert determinism.main([str(a), str(b)]) == 1
    assert "DIFFERS   data/ci/p.parquet" in capsys.readouterr().out
    (a / "data/ci/only_a.npz").unlink()
    (b / "data/ci/p.parquet").write_bytes(b"abc")
    assert determinism.main([str(a), str(b)]) == 0


# ----------------------------------------------------------------------------- terminal
def _papermill_error(ename, evalue, exec_count=4):
    from papermill.exceptions import PapermillExecutionError

    return PapermillExecutionError(cell_index=5, exec_count=exec_count, source="raise ...",
                                   ename=ename, evalue=evalue,
                                   traceback=["Traceback (most recent call last):"] * 60)


def test_cli_streams_cell_output_and_a_failed_stage_ends_with_one_line(project, monkeypatch, capsys):
    import logging

    def body(out):
        log = logging.getLogger("papermill")
        log.info("Executing Cell 3-------------------------")    # papermill's bookkeeping
        log.info("epoch 1/3 loss 0.9312\n")                      # what the cell printed
        log.warning("UserWarning: a cell warning\n")
        (paths.reports_dir("ci") / "tables" / "t.md").write_text("half\n")
        out.write_text("{}")                  # papermill saves the failed notebook, then raises
        raise _papermill_error("ValueError", "train_label.txt: row 6: label 'many' is not a number\n"
                                             "and a second line of the message")

    fake_notebook(monkeypatch, body)
    assert pipeline.main(["data", "--profile", "ci"]) == 1
    out, err = capsys.readouterr()
    assert "epoch 1/3 loss 0.9312" in out and "Executing Cell" not in out + err
    assert "UserWarning: a cell warning" in err and "Traceback" not in err
    last = err.strip().splitlines()[-1]
    assert last.startswith("stage data FAILED in cell 4 of notebooks/01_data.ipynb: ValueError: "
                           "train_label.txt: row 6: label 'many' is not a number")
    assert "executed notebook kept: .staging/ci/data/notebooks/01_data.ipynb" in last
    assert "rerun: python -m smpp_utils data" in last and "dvc repro data" in last
    assert "and a second line of the message" in err                # the rest, before it
    assert (project / "tables" / "t.md").read_text() == "old table\n"


def test_cli_success_says_what_changed(project, monkeypatch, capsys):
    def body(out):
        (paths.reports_dir("ci") / "tables" / "t.md").write_text("new table\n")
        (paths.reports_dir("ci") / "metrics" / "data.json").write_text('{"oracle": 3}\n')

    fake_notebook(monkeypatch, body)
    assert pipeline.main(["data", "--profile", "ci"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert out[0].startswith("stage data (01_data.ipynb, profile ci): running")
    assert out[-1].startswith("stage data done in ") and "report file(s) changed" in out[-1]


@pytest.mark.slow
def test_real_kernel_output_reaches_the_terminal_without_kernel_noise(project, capfd):
    """A real notebook through papermill and a real kernel: its printed lines reach the
    terminal as they are printed; the kernel's TCP warning and shutdown interrupt do not."""
    import nbformat

    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("print('cell one says hi')"),
        nbformat.v4.new_code_cell(
            "from smpp_utils.core import paths\n"
            "(paths.reports_dir('ci') / 'tables' / 't.md').write_text('kernel table\\n')\n"
            "(paths.reports_dir('ci') / 'metrics' / 'data.json').write_text('{}\\n')\n"
            "print('tables written')")])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, paths.ROOT / "notebooks" / "01_data.ipynb")
    assert pipeline.main(["data", "--profile", "ci"]) == 0
    out, err = capfd.readouterr()
    assert "cell one says hi" in out and "tables written" in out
    assert "without encryption" not in err and "KeyboardInterrupt" not in err, err
    assert (project / "tables" / "t.md").read_text() == "kernel table\n"
