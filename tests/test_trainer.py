"""The one trainer: resume, early stopping, validation hooks, streaming data; checkpoints
that cannot run code and are byte-stable; deterministic CPU runs across thread counts."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from smpp_utils.core import checkpoint, trainer

# ----------------------------------------------------------------------------- trainer
class _Lin(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = torch.nn.Linear(3, 1)

    def predict(self, b):
        return self.lin(b["x"]).squeeze(-1)

    def training_loss(self, b):
        return torch.nn.functional.mse_loss(self.predict(b) + 0.01 * torch.randn(len(b["y"])), b["y"])


def _data(n, seed):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 3, generator=g)
    return {"x": x, "y": x @ torch.tensor([1.0, -2.0, 0.5]) + 3}


def test_trainer_resume_equals_continuous(tmp_path):
    cfg = trainer.TrainConfig(epochs=4, lr=0.05, batch_size=16, patience=10, seed=1)
    train, val = _data(64, 0), _data(32, 1)
    torch.manual_seed(0)
    full = trainer.Trainer(_Lin(), cfg, tmp_path / "a", progress=False)
    full.fit(train, val)
    torch.manual_seed(123)   # different init on purpose: resume must restore everything
    part = trainer.Trainer(_Lin(), cfg, tmp_path / "b", progress=False)
    torch.manual_seed(0)
    part.model.load_state_dict(_Lin().state_dict())
    part.fit(train, val, stop_after=2)
    resumed = trainer.Trainer(_Lin(), cfg, tmp_path / "b", progress=False)
    resumed.fit(train, val)
    for a, b in zip(full.model.state_dict().values(), resumed.model.state_dict().values()):
        assert torch.allclose(a, b)
    assert full.history.val_mse == resumed.history.val_mse
    assert (tmp_path / "b" / "best.pt").is_file() and (tmp_path / "b" / "last.pt").is_file()


def test_trainer_learns_and_early_stops(tmp_path):
    cfg = trainer.TrainConfig(epochs=50, lr=0.0, batch_size=16, patience=2, seed=0)
    t = trainer.Trainer(_Lin(), cfg, None, progress=False)
    h = t.fit(_data(32, 0), _data(16, 1))
    assert h.stopped_early and len(h.val_mse) == 3     # lr 0: no improvement after epoch 1
    model, h2 = trainer.fit(_Lin(), _data(256, 0), _data(64, 1),
                            trainer.TrainConfig(epochs=30, lr=0.05, batch_size=32, seed=0), progress=False)
    assert h2.best_val_mse < 0.05


def test_trainer_ignores_a_stale_checkpoint(tmp_path):
    cfg = trainer.TrainConfig(epochs=2, lr=0.05, batch_size=16, seed=1)
    trainer.Trainer(_Lin(), cfg, tmp_path, progress=False, run_key="data-A").fit(_data(32, 0), _data(16, 1))
    other = trainer.Trainer(_Lin(), cfg, tmp_path, progress=False, run_key="data-B")
    assert other.try_resume() is False and other.epoch == 0
    same = trainer.Trainer(_Lin(), cfg, tmp_path, progress=False, run_key="data-A")
    assert same.try_resume() is True and same.epoch == 2


# ----------------------------------------------------------------------------- hooks and data
class _Cls(torch.nn.Module):
    """A classifier: early stopping on validation cross-entropy, AdamW with param groups."""

    def __init__(self):
        super().__init__()
        self.lin = torch.nn.Linear(3, 2)

    def param_groups(self):
        return [{"params": [self.lin.weight], "lr": 0.1}, {"params": [self.lin.bias], "lr": 0.0}]

    def loss_parts(self, b):
        ce = torch.nn.functional.cross_entropy(self.lin(b["x"]), b["label"])
        return {"total": ce, "ce": ce}

    def validation_loss(self, b):
        return torch.nn.functional.cross_entropy(self.lin(b["x"]), b["label"])


def _cls_data(n, seed):
    d = _data(n, seed)
    return {"x": d["x"], "label": (d["x"][:, 0] > 0).long()}


def test_validation_loss_hook_param_groups_and_adamw():
    m = _Cls()
    bias0 = m.lin.bias.detach().clone()
    cfg = trainer.TrainConfig(epochs=5, lr=0.1, batch_size=16, seed=0, optimizer="adamw",
                              weight_decay=1e-2, schedule="cosine", warmup_steps=2)
    t = trainer.Trainer(m, cfg, None, progress=False)
    h = t.fit(_cls_data(64, 0), _cls_data(32, 1))
    assert h.val_loss[-1] < h.val_loss[0] and "ce" in h.parts[0]
    assert torch.equal(m.lin.bias.detach(), bias0)          # its group has lr 0
    assert h.best_epoch == int(min(range(5), key=lambda e: h.val_loss[e]))


class _DS(torch.utils.data.Dataset):
    def __init__(self, d):
        self.d = d

    def __len__(self):
        return len(self.d["y"])

    def __getitem__(self, i):
        return {k: v[i] for k, v in self.d.items()}


def test_streaming_loader_factory_matches_in_memory_order(tmp_path):
    """A DataLoader factory seeded by epoch trains; resume over it equals the continuous run."""
    train, val = _data(64, 0), _data(32, 1)

    def loader(epoch, ds=_DS(train)):
        g = torch.Generator().manual_seed(1000 + epoch)
        return torch.utils.data.DataLoader(ds, batch_size=16, shuffle=True, generator=g)

    def val_loader(epoch, ds=_DS(val)):
        return torch.utils.data.DataLoader(ds, batch_size=8)

    cfg = trainer.TrainConfig(epochs=3, lr=0.05, batch_size=16, seed=1)
    torch.manual_seed(0)
    full = trainer.Trainer(_Lin(), cfg, tmp_path / "a", progress=False)
    full.fit(loader, val_loader)
    torch.manual_seed(0)
    part = trainer.Trainer(_Lin(), cfg, tmp_path / "b", progress=False)
    part.fit(loader, val_loader, stop_after=1)
    resumed = trainer.Trainer(_Lin(), cfg, tmp_path / "b", progress=False)
    resumed.fit(loader, val_loader)
    assert full.history.val_mse == resumed.history.val_mse and full.history.val_mse[-1] < full.history.val_mse[0]
    # streaming validation equals in-memory validation (MSE of predict)
    assert trainer.validation_loss(full.model, val_loader) == pytest.approx(
        trainer.validation_loss(full.model, val), rel=1e-6)


# ----------------------------------------------------------------------------- checkpoints
class _Evil:
    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (Path.write_text, (Path(self.marker), "pwned"))


@pytest.mark.parametrize("name", ["last.pt", "best.pt"])
def test_planted_pickle_is_refused_and_never_runs(tmp_path, name):
    marker = tmp_path / "marker"
    torch.save({"run_key": "", "payload": _Evil(marker)}, tmp_path / name)
    assert not marker.exists()
    if name == "last.pt":
        t = trainer.Trainer(_Lin(), trainer.TrainConfig(epochs=1), tmp_path, progress=False)
        with pytest.raises(checkpoint.UnsafeCheckpoint, match=str(tmp_path / name)):
            t.try_resume()
    else:
        with pytest.raises(checkpoint.UnsafeCheckpoint, match="weights_only"):
            checkpoint.load_checkpoint(tmp_path / name)
    assert not marker.exists()


def test_checkpoint_bytes_do_not_depend_on_the_path(tmp_path):
    torch.manual_seed(0)
    st = {"model": _Lin().state_dict(), "epoch": 3, "meta": {"a": [1, 2.5, "x"]}}
    a = checkpoint.save_checkpoint(tmp_path / "one" / "last.pt", st)
    b = checkpoint.save_checkpoint(tmp_path / "two" / "other_name.pt", st)
    assert a.read_bytes() == b.read_bytes()
    back = checkpoint.load_checkpoint(b)
    assert back["meta"] == st["meta"] and torch.equal(back["model"]["lin.weight"], st["model"]["lin.weight"])


# ----------------------------------------------------------------------------- determinism
_RUN = r'''
import sys, torch
from pathlib import Path
from smpp_utils.core import trainer
sys.path.insert(0, "tests")
from test_trainer import _Lin, _data
torch.manual_seed(0)
out = Path(sys.argv[1])
m = _Lin()
cfg = trainer.TrainConfig(epochs=3, lr=0.05, batch_size=64, seed=2)
tr = trainer.Trainer(m, cfg, out / "ckpt", progress=False)
tr.fit(_data(2048, 0), _data(512, 1))
out.joinpath("pred.bin").write_bytes(trainer.predict(tr.model, _data(512, 3)).tobytes())
'''


def test_two_processes_with_different_thread_counts_give_identical_bytes(tmp_path):
    root = Path(__file__).resolve().parents[1]
    outs = []
    for omp in ("1", "3"):
        out = tmp_path / f"omp{omp}"
        env = {**os.environ, "OMP_NUM_THREADS": omp, "MKL_NUM_THREADS": omp,
               "PYTHONPATH": str(root)}
        env.pop("SMPP_THREADS", None)
        subprocess.run([sys.executable, "-c", _RUN, str(out)], cwd=root, env=env, check=True)
        outs.append(out)
    a, b = outs
    assert (a / "pred.bin").read_bytes() == (b / "pred.bin").read_bytes()
    for name in ("last.pt", "best.pt"):
        assert (a / "ckpt" / name).read_bytes() == (b / "ckpt" / name).read_bytes()


def test_train_config_from_knobs():
    from types import SimpleNamespace

    sec = SimpleNamespace(epochs="7", lr="0.003", batch_size=64.0, patience=2, n_seeds=3,
                          grad_clip=99.0, max_minutes=None)
    cfg = trainer.TrainConfig.from_knobs(sec, 11, eval_batch_size=256, patience=9)
    assert (cfg.epochs, cfg.lr, cfg.batch_size, cfg.patience, cfg.seed) == (7, 0.003, 64, 2, 11)
    assert isinstance(cfg.epochs, int) and isinstance(cfg.lr, float)
    assert cfg.eval_batch_size == 256                  # a default where the section has none
    assert cfg.grad_clip == trainer.TrainConfig().grad_clip   # not a knob: never read from cfg
    assert cfg.max_minutes is None
    assert trainer.TrainConfig.from_knobs(None, 0) == trainer.TrainConfig(seed=0)


def test_backward_is_called_only_by_the_trainer():
    """Every torch model of the study (and the benchmarks) trains through core.trainer: no
    other module of the package or benchmarks/ calls .backward() (tests may, to check
    gradients)."""
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    calls = [f"{p.relative_to(root)}:{i}" for p in [*(root / "smpp_utils").rglob("*.py"), *(root / "benchmarks").glob("*.py")]
             if p.name != "trainer.py" or p.parent.name != "core"
             for i, line in enumerate(p.read_text().splitlines(), 1)
             if re.search(r"\.backward\(", line.split("#")[0])]
    assert calls == []
