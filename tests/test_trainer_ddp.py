"""Data-parallel training (core.trainer under torch.distributed): 2 CPU processes (gloo),
spawned here, train with the same global batch as one process and must reach the same weights
within 1e-5 (float summation order differs), identical on both ranks; rank 0 alone writes the
checkpoints. Cases: a ragged last batch (13 rows -> shards of 7 and 6) and a last batch of one
row (rank 1's shard is empty)."""

import os
from pathlib import Path

import pytest
import torch
from ddp_harness import run_ranks  # tests/ is on sys.path (pytest rootdir)

from smpp_utils.core import checkpoint, trainer

CASES = {"ragged": 61, "one_row_last": 33}      # rows; global batch 16
TOL = 1e-5


class _MLP(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))
        self.unused = torch.nn.Linear(2, 2)          # never gets a gradient: must stay untouched

    def predict(self, b):
        return self.net(b["x"]).squeeze(-1)

    def loss_parts(self, b):
        mse = torch.nn.functional.mse_loss(self.predict(b), b["y"])
        return {"total": mse + 0.1 * self.net[0].weight.square().mean(), "mse": mse}


def _data(n, seed):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 4, generator=g)
    return {"x": x, "y": torch.sin(x @ torch.tensor([1.0, -2.0, 0.5, 0.3])), "idx": torch.arange(n)}


def _train(n, ckpt):
    torch.manual_seed(0)
    cfg = trainer.TrainConfig(epochs=3, lr=0.02, batch_size=16, patience=10, seed=3, grad_clip=1.0)
    t = trainer.Trainer(_MLP(), cfg, ckpt, progress=False)
    t.fit(_data(n, 0), _data(20, 1), resume=False)
    return t


def _ranks(rank, out):
    world = int(os.environ["WORLD_SIZE"])
    for name, n in CASES.items():
        t = _train(n, Path(out) / name)            # the Trainer joins the group itself
        assert t.world == world and t.rank == rank
        checkpoint.save_checkpoint(Path(out) / f"{name}_rank{rank}.pt",
                                   {"model": t.model.state_dict(),
                                    "train_loss": t.history.train_loss, "val": t.history.val_mse})


@pytest.fixture(scope="module")
def two_ranks(tmp_path_factory):
    out = tmp_path_factory.mktemp("ddp")
    run_ranks(_ranks, out)
    return out


@pytest.mark.parametrize("case", sorted(CASES))
def test_two_processes_match_one_with_the_same_global_batch(two_ranks, tmp_path, case):
    ref = _train(CASES[case], tmp_path / "one")
    assert ref.world == 1
    r0 = checkpoint.load_checkpoint(two_ranks / f"{case}_rank0.pt")
    r1 = checkpoint.load_checkpoint(two_ranks / f"{case}_rank1.pt")
    for key, want in ref.model.state_dict().items():
        assert torch.equal(r0["model"][key], r1["model"][key]), f"ranks disagree on {key}"
        torch.testing.assert_close(r0["model"][key], want, rtol=0, atol=TOL, msg=f"{case}: {key}")
    torch.testing.assert_close(torch.tensor(r0["train_loss"]), torch.tensor(ref.history.train_loss),
                               rtol=TOL, atol=TOL)
    torch.testing.assert_close(torch.tensor(r0["val"]), torch.tensor(ref.history.val_mse), rtol=TOL, atol=TOL)
    assert torch.equal(r0["model"]["unused.weight"], ref.model.state_dict()["unused.weight"])
    # rank 0 wrote the run's checkpoints, and they hold its weights
    last = checkpoint.load_checkpoint(two_ranks / case / "last.pt")
    assert sorted(p.name for p in (two_ranks / case).iterdir()) == ["best.pt", "last.pt"]
    assert last["history"]["steps"] == ref.history.steps


def test_shard_splits_rows_contiguously_and_keeps_other_values():
    b = {"x": torch.arange(5), "s": torch.tensor(2.0), "name": "n"}
    parts = [trainer.shard(b, r, 2) for r in range(2)]
    assert [p["x"].tolist() for p in parts] == [[0, 1], [2, 3, 4]]
    assert all(p["s"] == 2.0 and p["name"] == "n" for p in parts)
    assert trainer.dist_world() == (0, 1) and trainer.is_main_process()
