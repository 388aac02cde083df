"""Data parallelism of the study's two trained models, not only of a toy: 2 CPU processes
(gloo, spawned here) train Paper A's dual-prompt PromptCLIP and JRPP through ``core.trainer``
with the same global batch as one process, and must reach the same weights within ``TOL``
(float summation order differs between 1 and 2 processes; the ranks agree exactly).

What is switched off, and why: the CLIP contrastive term (``w_contrastive=0``) couples the
rows of a batch, so under DDP each rank contrasts within its shard (README, Scale); JRPP's
Gumbel and IB noise are drawn per shard (``gumbel_noise=False``, ``ib=False``). Every other
part - prompts, prototype attention, both towers, MoL retrieval with the per-epoch bank
re-index, the Gumbel filter's selection, the aggregator - trains as in the pipeline."""

import json
import os
from pathlib import Path

import pytest
import torch
from ddp_harness import run_ranks  # tests/ is on sys.path (pytest rootdir)

from smpp_utils.core import checkpoint, trainer

TOL = 1e-4
# Adam divides by sqrt(v) + eps: a gradient that is exactly 0 in exact arithmetic (the key
# bias of attention: softmax ignores it) is float noise of ~1e-9 that Adam would blow up to
# +-lr steps of random sign. A larger eps keeps such noise at noise size; real gradients are
# unaffected at this scale.
EPS = 1e-6
MICRO = {"embed_dim": 32,
         "vision_cfg": {"image_size": 16, "layers": 1, "width": 32, "head_width": 16, "patch_size": 8},
         "text_cfg": {"context_length": 16, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1}}


def _register(tmp: Path) -> None:
    import open_clip

    (tmp / "smpp-ddp-micro.json").write_text(json.dumps(MICRO))
    open_clip.add_model_config(tmp)


def _train_prompts(tmp: Path):
    import open_clip

    from smpp_utils.paper_a.prompts import PromptCLIP, random_bank

    _register(tmp)
    torch.manual_seed(0)
    clip, tok = open_clip.create_model("smpp-ddp-micro"), open_clip.get_tokenizer("smpp-ddp-micro")
    bank = random_bank(12, 3, 32, 24, seed=1)
    model = PromptCLIP(clip, tok, bank, global_ctx=4, local_ctx=2, attn_heads=2, w_contrastive=0.0)
    g = torch.Generator().manual_seed(5)
    batches = [{"images": torch.randn(10, 3, 16, 16, generator=g),        # 10 rows: shards 5 + 5
                "label": torch.randint(0, 12, (10,), generator=g),
                "text": tok([f"post {i} tag{i % 3}" for i in range(10)])} for _ in range(3)]
    cfg = trainer.TrainConfig(epochs=1, lr=1e-3, batch_size=10, seed=0, optimizer="adamw",
                              grad_clip=None, patience=2, eps=EPS)
    t = trainer.Trainer(model, cfg, None, progress=False)
    t.initial_state = {k: v.clone() for k, v in model.state_dict().items()}
    t.fit(lambda epoch: iter(batches), None, resume=False)
    return t


def _train_jrpp():
    from smpp_utils.data.synthetic import make_synthetic
    from smpp_utils.jrpp import JRPP, JRPPConfig
    from smpp_utils.jrpp.experiment import with_bank_pos

    data, info = make_synthetic(45, 20, 10, di=8, dt=6, dm=3, n_users=9, seed=0)   # 45 rows: ragged last batch
    data = with_bank_pos(data)
    torch.manual_seed(0)
    cfg = JRPPConfig(proj_dim=16, n_mol=2, mol_dim=8, shortlist=10, k=5, n_layers=1, n_heads=2,
                     d_model=16, gumbel_noise=False, ib=False)
    model = JRPP(info["dims"], info["n_users"], info["label_mean"], cfg, bank=data["train"])
    tcfg = trainer.TrainConfig(epochs=2, lr=1e-3, batch_size=16, seed=0, patience=5, eps=EPS)
    t = trainer.Trainer(model, tcfg, None, progress=False)
    t.initial_state = {k: v.clone() for k, v in model.state_dict().items()}
    t.fit(data["train"], data["val"], resume=False)
    return t


def _ranks(rank, out):
    world = int(os.environ["WORLD_SIZE"])
    for name, t in (("prompts", _train_prompts(Path(out))), ("jrpp", _train_jrpp())):
        assert t.world == world and t.rank == rank
        checkpoint.save_checkpoint(Path(out) / f"{name}_rank{rank}.pt",
                                   {"model": t.model.state_dict(), "loss": t.history.train_loss})


@pytest.fixture(scope="module")
def two_ranks(tmp_path_factory):
    out = tmp_path_factory.mktemp("ddp_models")
    run_ranks(_ranks, out)
    return out


@pytest.mark.parametrize("name", ["prompts", "jrpp"])
def test_two_processes_train_the_models_as_one(two_ranks, tmp_path, name):
    ref = _train_prompts(tmp_path) if name == "prompts" else _train_jrpp()
    assert ref.world == 1
    r0 = checkpoint.load_checkpoint(two_ranks / f"{name}_rank0.pt")
    r1 = checkpoint.load_checkpoint(two_ranks / f"{name}_rank1.pt")
    init = {k: v.clone() for k, v in ref.initial_state.items()}
    moved = 0
    for key, want in ref.model.state_dict().items():
        assert torch.equal(r0["model"][key], r1["model"][key]), f"{name}: ranks disagree on {key}"
        diff = (r0["model"][key].float() - want.float()).abs().max().item() if want.numel() else 0.0
        assert diff <= TOL, f"{name}: {key} differs by {diff:.2e} from one process"
        moved += int((want.float() - init[key].float()).abs().max().item() > 10 * TOL) if want.numel() else 0
    assert moved >= 3, f"{name}: training moved only {moved} tensors beyond 10 x TOL (the match would be vacuous)"
    torch.testing.assert_close(torch.tensor(r0["loss"]), torch.tensor(ref.history.train_loss),
                               rtol=TOL, atol=TOL)
