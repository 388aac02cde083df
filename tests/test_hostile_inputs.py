"""Hostile and broken inputs (issue 21): one case per class, each of which the code before the
hardening got wrong (it ran planted code, passed the pre-flight, crashed with a traceback or
raced another run).

1. Loading cannot run code: crafted checkpoints of every shape, at every entry point that
   loads one (the loader, ``create_clip``, the stage-02 backbone of stages 03/10 and 09, the
   pre-flight), never write the marker their pickle's ``__reduce__`` would write.
2. The pre-flight runs the stages' validation: the SMPD reader's full pass, the checkpoint
   matched to ``clip_model``, cross-knob rules, duplicate YAML keys; exit 2, nothing written.
3. Reader range checks: dates without overflow and inside a window, required keys, NaN
   literals, duplicate keys in a record, the pixel budget.
4. One run at a time: the profile lock, ``check`` under the lock, the runner stopping with its
   parent, publishing across filesystems.

New modules are imported inside the tests, so that this file also runs (and fails case by
case) against the code before them.
"""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import zipfile
from pathlib import Path

import pytest
import torch
import yaml

from smpd_fixture import write_smpd_fixture
from smpp_utils.core import checkpoint, config, paths
from smpp_utils.pipeline import preflight
from smpp_utils.data import smpd

ROOT = Path(__file__).resolve().parents[1]
MODEL = "smpp-vit-tiny"


# ----------------------------------------------------------------------------- helpers
class _Evil:
    """Unpickling this writes ``marker`` (what a planted checkpoint would do)."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (Path.write_text, (Path(self.marker), "pwned"))


def _tiny_state():
    from smpp_utils.embed import encoders

    torch.manual_seed(0)
    model = encoders.create_clip(MODEL, None, device="cpu")[0]
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _add_entry(path: Path, name: str, data: bytes = b"print('x')\n") -> None:
    with zipfile.ZipFile(path, "a") as z:
        z.writestr(name, data)


def craft(kind: str, path: Path, marker: Path) -> Path:
    """A hostile weights file of one shape."""
    evil = _Evil(marker)
    if kind == "plain-pickle":                     # torch.save of an object that runs code
        torch.save({"state_dict": {"w": torch.zeros(1)}, "x": evil}, path)
    elif kind == "code-dir-trick":                 # + '<prefix>/code/x.py': looked like TorchScript
        torch.save({"state_dict": {"w": torch.zeros(1)}, "x": evil}, path)
        _add_entry(path, f"{path.stem}/code/x.py")
    elif kind == "meta-payload":                   # a real state dict, the payload in smpp_meta
        torch.save({"state_dict": _tiny_state(), "smpp_meta": evil}, path)
        _add_entry(path, f"{path.stem}/code/__torch__/m.py")
    elif kind == "legacy-pickle":                  # the pre-zip format: a bare pickle stream
        import pickle

        path.write_bytes(pickle.dumps({"state_dict": {"w": torch.zeros(1)}, "x": evil}))
    elif kind == "fake-torchscript":               # constants.pkl + code/ around a hostile data.pkl
        torch.save({"x": evil}, path)
        _add_entry(path, f"{path.stem}/constants.pkl", b"\x80\x02).")
        _add_entry(path, f"{path.stem}/code/__torch__/m.py")
    else:
        raise ValueError(kind)
    assert not marker.exists()
    return path


KINDS = ["plain-pickle", "code-dir-trick", "meta-payload", "legacy-pickle", "fake-torchscript"]


def _attempt(fn):
    """The exception ``fn()`` raised (None if it returned): checked after the marker, so a
    run that executed the payload fails on that first."""
    try:
        fn()
    except Exception as e:            # noqa: BLE001
        return e
    return None


def _project(tmp_path, monkeypatch, profile="ci", **changes) -> Path:
    """A project root under ``tmp_path``: the real params.yaml with ``changes``
    (``"section.knob": value``) applied to ``profile``, resolved and written plainly."""
    params = config.load_params(ROOT / "params.yaml")
    for dotted, value in changes.items():
        sec, key = dotted.split(".")
        params[profile][sec][key] = value
    params["profile"] = params[profile]
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    monkeypatch.setattr(paths, "ROOT", tmp_path)
    monkeypatch.delenv(paths.STAGING_ENV, raising=False)
    return tmp_path


# ----------------------------------------------------------------------------- 1. no code runs
@pytest.mark.parametrize("kind", KINDS)
def test_crafted_checkpoint_is_refused_by_the_loader(tmp_path, kind):
    marker = tmp_path / "marker"
    path = craft(kind, tmp_path / "clip.pt", marker)
    with pytest.raises(checkpoint.UnsafeCheckpoint, match=str(path)) as err:
        checkpoint.load_checkpoint(path)
    assert "\n" not in str(err.value) and not marker.exists()
    if kind == "fake-torchscript":
        assert "TorchScript" in str(err.value) and "convert" in str(err.value)


@pytest.mark.parametrize("kind", KINDS)
def test_crafted_checkpoint_never_runs_in_create_clip(tmp_path, kind):
    from smpp_utils.embed import encoders

    marker = tmp_path / "marker"
    path = craft(kind, tmp_path / "clip.pt", marker)
    err = _attempt(lambda: encoders.create_clip(MODEL, path, device="cpu"))
    assert not marker.exists(), "the checkpoint ran code"
    assert isinstance(err, checkpoint.UnsafeCheckpoint) and str(path) in str(err)


@pytest.mark.parametrize("kind", ["code-dir-trick", "meta-payload"])
def test_planted_stage02_backbone_never_runs_in_stages_03_09_10(tmp_path, monkeypatch, kind):
    from smpp_utils.analysis import regimes
    from smpp_utils.paper_a.prompts import towers

    root = _project(tmp_path, monkeypatch)
    marker = tmp_path / "marker"
    planted = root / "models" / "ci" / "clip_pretrain.pt"
    planted.parent.mkdir(parents=True)
    craft(kind, planted, marker)
    errors = [_attempt(lambda: towers.load_backbone("ci", device="cpu")),          # stages 03, 10
              _attempt(lambda: regimes.frozen_encoders("ci", MODEL, device="cpu")),  # stage 09
              _attempt(lambda: preflight.check("ci", record=False, deep=True))]      # before any
    assert not marker.exists(), "the checkpoint ran code"
    assert [type(e).__name__ for e in errors] == ["UnsafeCheckpoint", "UnsafeCheckpoint", "PreflightError"]
    assert "clip_pretrain.pt" in str(errors[2])


@pytest.mark.parametrize("kind", KINDS)
def test_crafted_clip_pretrained_is_refused_by_the_preflight(tmp_path, monkeypatch, capsys, kind):
    marker = tmp_path / "marker"
    path = craft(kind, tmp_path / "w.pt", marker)
    _project(tmp_path, monkeypatch, **{"prototypes.clip_pretrained": str(path)})
    status = preflight.main(["--profile", "ci"])
    assert not marker.exists(), "the checkpoint ran code"
    assert status == 2
    assert f"ci.prototypes.clip_pretrained: {path}" in capsys.readouterr().err
    assert not (tmp_path / "data").exists()


@pytest.mark.filterwarnings("ignore::torch.jit.TracerWarning")
@pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated:FutureWarning")
def test_real_torchscript_is_refused_then_converted_once(tmp_path):
    from smpp_utils.embed import encoders

    torch.manual_seed(1)
    model, _, tok = encoders.create_clip(MODEL, None, device="cpu")
    img, txt = torch.randn(2, 3, 64, 64), tok(["a cat", "a dog"])
    scripted = tmp_path / "ViT.pt"
    with pytest.warns(FutureWarning):
        torch.jit.trace(model, (img, txt), strict=False, check_trace=False).save(str(scripted))
    assert checkpoint.inspect_file(scripted) == "torchscript"
    with pytest.raises(checkpoint.UnsafeCheckpoint, match="TorchScript.*convert it once"):
        encoders.create_clip(MODEL, scripted, device="cpu")
    out = tmp_path / "ViT.safetensors"
    assert checkpoint.main(["convert", str(scripted), str(out)]) == 2      # needs the opt-in
    assert not out.exists()
    assert checkpoint.main(["convert", str(scripted), str(out), "--trust-torchscript"]) == 0
    loaded = encoders.create_clip(MODEL, out, device="cpu")[0]
    with torch.no_grad():
        torch.testing.assert_close(loaded.encode_image(img), model.encode_image(img))


def test_metadata_beside_weights_is_json(tmp_path):
    from smpp_utils.embed import encoders

    model = encoders.create_clip(MODEL, None, device="cpu")[0]
    path = encoders.save_clip_checkpoint(model, tmp_path / "c.pt", {"seed": 7, "model": MODEL})
    meta = checkpoint.load_checkpoint(path)["smpp_meta"]
    assert isinstance(meta, str) and json.loads(meta) == {"model": MODEL, "seed": 7}
    # a checkpoint of the earlier layout (a dict of plain values) still reads
    torch.save({"state_dict": model.state_dict(), "smpp_meta": {"seed": 7}}, tmp_path / "old.pt")
    assert checkpoint.read_meta(checkpoint.load_checkpoint(tmp_path / "old.pt")["smpp_meta"]) == {"seed": 7}


def test_wrong_architecture_is_one_line_naming_file_and_model(tmp_path, monkeypatch, capsys):
    from smpp_utils.embed import encoders

    sd = _tiny_state()
    sd["text_projection"] = torch.zeros(128, 64)           # another width
    path = tmp_path / "other.pt"
    torch.save({"state_dict": sd}, path)
    with pytest.raises(encoders.CheckpointMismatch) as err:
        encoders.create_clip(MODEL, path, device="cpu")
    msg = str(err.value)
    assert "\n" not in msg and str(path) in msg and repr(MODEL) in msg
    assert "text_projection [128, 64] in the file vs [128, 128]" in msg
    _project(tmp_path, monkeypatch, **{"prototypes.clip_pretrained": str(path)})
    assert preflight.main(["--profile", "ci"]) == 2
    assert "ci.prototypes.clip_pretrained: " in capsys.readouterr().err


# ----------------------------------------------------------------------------- 2. pre-flight
def test_preflight_runs_the_readers_full_pass(tmp_path, monkeypatch, capsys):
    release = write_smpd_fixture(tmp_path / "SMPD", n=40)
    lines = (release / "train_label.txt").read_text().splitlines()
    lines[6] = "many"
    (release / "train_label.txt").write_text("\n".join(lines) + "\n")
    _project(tmp_path, monkeypatch, **{"data.source": "smpd", "data.smpd_root": str(release)})
    assert preflight.main(["--profile", "ci"]) == 2
    err = capsys.readouterr().err
    assert f"{release / 'train_label.txt'}: row 6 (Pid 1006): line 7: label 'many' is not a number" in err
    assert not (tmp_path / "data").exists()                # nothing recorded
    lines[6] = "3.5"
    (release / "train_label.txt").write_text("\n".join(lines) + "\n")
    assert preflight.main(["--profile", "ci"]) == 0         # the clean folder passes
    assert (tmp_path / "data" / "ci" / "external" / "source.json").is_file()


@pytest.mark.parametrize("changes, knob", [
    ({"jrpp.k": 2000, "jrpp.shortlist": 2000}, "ci.jrpp.k: 2000 neighbours requested but the retrieval bank holds 960"),
    ({"ablations.sweep_seeds": 3}, "ci.ablations.sweep_seeds: must be <= ci.ablations.n_seeds (1)"),
    ({"jrpp.kprime_frac": 0.01}, "ci.jrpp.kprime_frac: the filter keeps k' = floor(jrpp.kprime_frac * k)"),
    ({"boosting.pca_dims": 100000}, "ci.boosting.pca_dims: must be < 128"),
    ({"jrpp.lr": 1.0e9}, "ci.jrpp.lr: must be <= 1"),
    ({"regimes.knn_shortlist": 5000}, "ci.regimes.knn_shortlist: 5000 neighbours requested"),
])
def test_preflight_refuses_knob_combinations(tmp_path, monkeypatch, capsys, changes, knob):
    _project(tmp_path, monkeypatch, **changes)
    assert preflight.main(["--profile", "ci"]) == 2
    err = capsys.readouterr().err
    assert knob in err
    assert not (tmp_path / "data").exists()


def test_duplicate_yaml_keys_are_refused(tmp_path):
    flow = tmp_path / "flow.yaml"
    flow.write_text("ci:\n  jrpp: {epochs: 3, epochs: 30}\n")
    with pytest.raises(ValueError, match=r"ci\.jrpp\.epochs: duplicate key \(lines 2 and 2\)"):
        config.load_params(flow)
    section = tmp_path / "section.yaml"
    section.write_text("base:\n  jrpp: &j {epochs: 3}\nci:\n  jrpp: {<<: *j, epochs: 4}\n  jrpp: {}\n")
    with pytest.raises(ValueError, match=r"ci\.jrpp: duplicate key \(lines 4 and 5\)"):
        config.load_params(section)


def test_trainer_names_the_lr_when_the_loss_is_not_finite():
    from smpp_utils.core import trainer

    class Lin(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = torch.nn.Linear(2, 1)

        def training_loss(self, b):
            return ((self.lin(b["x"]).squeeze(1) - b["y"]) ** 2).mean()

    data = {"x": torch.randn(64, 2) * 1e3, "y": torch.randn(64) * 1e3}
    cfg = trainer.TrainConfig(epochs=5, lr=1e30, batch_size=16, grad_clip=None, seed=0)
    with pytest.raises(FloatingPointError, match=r"lr = 1e\+30"):
        trainer.Trainer(Lin(), cfg, None, progress=False).fit(data, None)


# ----------------------------------------------------------------------------- 3. reader
def _edit(release: Path, name: str, old: str, new: str) -> None:
    p = release / name
    text = p.read_text()
    assert old in text
    p.write_text(text.replace(old, new, 1))


TS, USER, TEXT = ("train_temporalspatial_information.json", "train_user_data.json", "train_text.json")


@pytest.mark.parametrize("name, old, new, problem", [
    (TS, '"Postdate": "1420070400"', '"Postdate": "99999999999"',
     "row 0 (Pid 1000): Postdate '99999999999' is outside the plausible window"),
    (TS, '"Postdate": "1420070400"', '"Postdate": "4102444800"',              # 2100
     "row 0 (Pid 1000): Postdate '4102444800' is outside the plausible window"),
    (TS, '"Postdate": "1420070400"', '"Postdate": "-31536000"',               # 1969
     "row 0 (Pid 1000): Postdate '-31536000' is outside the plausible window"),
    (TEXT, '"Title": "", ', "", "row 0 (Pid 1000): record lacks key(s) ['Title']"),
    (TS, '"Latitude": "0"', '"Latitude": NaN',
     "row 0 (Pid 1000): field Latitude: expected a JSON string or number, got non-finite number NaN"),
    (TEXT, '"Title": "", ', '"Title": "", "Title": "x", ',
     "row 0 (Pid 1000): key(s) ['Title'] stated twice in one record"),
])
def test_reader_range_checks_name_file_row_and_field(tmp_path, name, old, new, problem):
    release = write_smpd_fixture(tmp_path / "r")
    _edit(release, name, old, new)
    with pytest.raises(smpd.SMPDFormatError) as err:
        smpd.read_smpd(release)
    assert f"{release / name}: {problem}" in str(err.value)


@pytest.mark.parametrize("value", ["1000-01-01", "9999-12-31 00:00:00"])
def test_sentinel_camera_dates_read_as_unknown(tmp_path, value):
    release = write_smpd_fixture(tmp_path / "r")
    _edit(release, USER, '"photo_firstdatetaken": "2009-05-08 15:28:47"',
          f'"photo_firstdatetaken": "{value}"')
    with pytest.warns(UserWarning, match="1 photo_firstdatetaken"):
        df, report = smpd.read_smpd(release)
    assert df.loc[df["Pid"] == 1000, "photo_firstdatetaken"].isna().all()
    assert report["splits"]["train"]["dates_outside_window"] == {"photo_firstdatetaken": 1}


def test_image_beyond_the_pixel_budget_is_an_error_naming_the_file(tmp_path):
    from PIL import Image

    release = write_smpd_fixture(tmp_path / "r")
    img = release / "train" / "0@N10" / "1000.jpg"
    Image.new("1", (13000, 13000)).save(img, format="PNG")     # 169 megapixels, 20 kB
    with pytest.raises(smpd.SMPDFormatError) as err:
        smpd.read_smpd(release)
    msg = str(err.value)
    assert "169,000,000 pixels exceeds the pixel budget data.max_image_pixels" in msg
    assert str(img) in msg
    assert smpd.read_smpd(release, max_image_pixels=200_000_000)[0]["Pid"].iloc[0] == 1000


# ----------------------------------------------------------------------------- 4. one run at a time
def _fake_stage_project(tmp_path, monkeypatch):
    """A project whose stage 'data' declares one report and whose notebook is not run."""
    import papermill

    from smpp_utils.pipeline import runner

    root = _project(tmp_path, monkeypatch)
    monkeypatch.setattr(runner, "declared_report_outs", lambda stage, profile: ["tables/t.md"])
    (root / "notebooks").mkdir()

    def execute(input_path, output_path, **kw):
        (paths.reports_dir("ci") / "tables").mkdir(parents=True, exist_ok=True)
        (paths.reports_dir("ci") / "tables" / "t.md").write_text("table\n")
        Path(output_path).write_text("{}")
    monkeypatch.setattr(papermill, "execute_notebook", execute)
    return root


def test_a_second_run_and_check_are_refused_while_a_run_holds_the_profile(tmp_path, monkeypatch):
    from smpp_utils.pipeline import runlock, runner as pipeline

    root = _fake_stage_project(tmp_path, monkeypatch)
    holder = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(f"""
            import sys, time
            from smpp_utils.core import paths
            from smpp_utils.pipeline import runlock
            paths.ROOT = __import__('pathlib').Path({str(root)!r})
            with runlock.RunLock('ci', 'jrpp'):
                print('locked', flush=True)
                time.sleep(60)
        """)], stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(runlock.LockHeld, match=rf"stage jrpp \(PID {holder.pid}, since"):
            pipeline.run("data", "ci")
        with pytest.raises(preflight.PreflightError, match=rf"PID {holder.pid}"):
            preflight.check("ci")                               # check records nothing
        assert not (root / "reports").exists() and not (root / "data").exists()
    finally:
        holder.kill()
        holder.wait()
    assert "tables/t.md" in pipeline.run("data", "ci")          # free again


def test_runner_stops_with_its_parent_and_publishes_nothing(tmp_path):
    """``dvc`` killed: the runner (and its 'kernel', a child process) stop within seconds;
    the report stays unpublished and the stage is marked failed."""
    root = tmp_path / "proj"
    root.mkdir()
    params = config.load_params(ROOT / "params.yaml")
    params["profile"] = params["ci"]
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    (root / "notebooks").mkdir()
    kernel_pid = tmp_path / "kernel.pid"
    driver = tmp_path / "driver.py"
    driver.write_text(textwrap.dedent(f"""
        import subprocess, sys, time
        from pathlib import Path
        import papermill
        from smpp_utils.core import paths
        from smpp_utils.pipeline import runner as pipeline

        def execute(input_path, output_path, **kw):
            kernel = subprocess.Popen(["sleep", "120"])           # stands in for the kernel
            Path({str(kernel_pid)!r}).write_text(str(kernel.pid))
            time.sleep(60)
            (paths.reports_dir("ci") / "tables").mkdir(parents=True, exist_ok=True)
            (paths.reports_dir("ci") / "tables" / "t.md").write_text("late table\\n")
            Path(output_path).write_text("{{}}")
        papermill.execute_notebook = execute
        pipeline.declared_report_outs = lambda stage, profile: ["tables/t.md"]
        sys.exit(pipeline.main(["data", "--profile", "ci"]))
    """))
    env = {**os.environ, "SMPP_ROOT": str(root), "PYTHONPATH": f"{ROOT}:{ROOT / 'tests'}"}
    parent = subprocess.Popen(["bash", "-c", f"{sys.executable} {driver} & echo $! ; wait"],
                              stdout=subprocess.PIPE, text=True, env=env, start_new_session=True)
    runner = int(parent.stdout.readline())
    for _ in range(600):                                          # until the 'kernel' runs
        if kernel_pid.is_file() and kernel_pid.read_text():
            break
        time.sleep(0.1)
    kernel = int(kernel_pid.read_text())
    os.kill(parent.pid, signal.SIGKILL)                           # dvc dies
    parent.wait()
    deadline = time.time() + 15
    while time.time() < deadline and (_alive(runner) or _alive(kernel)):
        time.sleep(0.2)
    alive = (_alive(runner), _alive(kernel))
    for pid in (runner, kernel):
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)
    assert alive == (False, False)
    assert not (root / "reports" / "ci" / "tables" / "t.md").exists()
    marker = json.loads((root / "reports" / "ci" / ".running" / "data.json").read_text())
    assert marker["state"] == "failed" and "parent process died" in marker["error"]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:                                   # a zombie (exited, not yet reaped) is not running
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except OSError:
        return True


def test_publishing_works_across_filesystems(tmp_path, monkeypatch):
    from smpp_utils.pipeline import runner as pipeline

    staging, final = tmp_path / "staging", tmp_path / "final"
    (staging / "tables").mkdir(parents=True)
    (staging / "tables" / "t.md").write_text("new\n")
    (final / "tables").mkdir(parents=True)
    (final / "tables" / "t.md").write_text("old\n")
    real = os.replace

    def cross_device(src, dst):
        if str(src).startswith(str(staging)):
            raise OSError(errno.EXDEV, "Invalid cross-device link")
        return real(src, dst)
    monkeypatch.setattr(os, "replace", cross_device)
    assert pipeline.publish(staging, final, ["tables/t.md"]) == ["tables/t.md"]
    assert (final / "tables" / "t.md").read_text() == "new\n"
    assert not (staging / "tables" / "t.md").exists()
    assert sorted(p.name for p in (final / "tables").iterdir()) == ["t.md"]    # no temp left
