"""Paper A's prompt and prototype ablations with the prompt model RETRAINED per row (notebook 10).

The feature-level rows of :mod:`.ablations` drop blocks of stage 03's one dual model. The
paper's questions ("only global prompts", "only local prompts", Sec. 3.2; prototypes against
raw user tags, Sec. 3.1) are about models *trained* that way, so here stage 03's model is
trained again, with the same knobs (``finetune`` section), backbone, prototypes, images and
seed, and one change (:data:`BRANCH_MODEL`, keyword arguments of
:class:`~.prompts.PromptCLIP`):

* ``global``: ``w_local = 0`` - the global prompts and the prototype cross-attention (their
  CE terms share ``w_global``) and, if not frozen, the backbone learn; the local prompts stay
  at their initialisation;
* ``local``: ``w_global = 0`` - only the local prompts (and the backbone) learn;
* ``noproto``: ``w_enhanced = 0`` - the dual model without its prototype branch (the CE term
  of the cross-attended feature, Eq. 6): the prototypes never shape the backbone or the prompts;
* ``rawtags``: the dual model whose cross-attention reads each post's own title + tags
  embedding (``paper_a_ablations.raw_text_emb``, stage 02) where the textual prototypes were.

The image-text contrastive term keeps its weight in all of them, as in the dual model. Each
model's features for the regressor are its own blocks of :data:`BRANCH_BLOCKS`: the retrained
counterpart of the feature-level ``global_only`` / ``local_only`` / ``no_prototypes`` /
``raw_tags`` rows. Each row is one full stage-03 fine-tuning (one prompt-model seed, the
profile seed; the GBDT seeds on top).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from ..core import config
from ..core.device import get_device, seed_everything
from . import boosting, prompts
from .ablations import load_raw_text

# PromptCLIP keyword arguments of each retrained model (w_local = 0 also leaves the prototype
# CE in the global row: it shares w_global, as in stage 03)
BRANCH_MODEL = {"global": {"w_local": 0.0}, "local": {"w_global": 0.0}, "noproto": {"w_enhanced": 0.0},
                "rawtags": {"raw_text": True}}
BRANCH_BLOCKS = {"global": ("image", "text", "global"), "local": ("image", "text", "local"),
                 "noproto": ("image", "text", "global", "local"),
                 "rawtags": prompts.FEATURE_BLOCKS}
# the prompts.branch_top1 keys of the branches each model trains
BRANCH_TOP1 = {"global": ("top1_val_global",), "local": ("top1_val_local",),
               "noproto": ("top1_val_global", "top1_val_local"),
               "rawtags": ("top1_val_global", "top1_val_local", "top1_val_enhanced")}


def parse_branches(spec: str) -> list[str]:
    """'global,local' -> ['global', 'local'] ('' = none); an unknown branch is an error."""
    out = [b.strip() for b in str(spec).split(",") if b.strip()]
    bad = [b for b in out if b not in BRANCH_MODEL]
    if bad:
        raise ValueError(f"retrain_branches: unknown branch(es) {bad}; expected a comma list of "
                         f"{sorted(BRANCH_MODEL)}")
    return out


def row_name(branch: str) -> str:
    """The ablation-table row of a retrained branch: 'global_retrained'."""
    return f"{branch}_retrained"


def block_name(branch: str, block: str) -> str:
    """Feature-block name of one retrained model's block: 'globalmodel_image' (the matrix
    columns become 'globalmodel_image_000' ...)."""
    return f"{branch}model_{block}"


def load_inputs(profile: str, fingerprint: str, device, num_workers: int = 0,
                raw_text_emb: str = "") -> prompts.TrainInputs:
    """Stage 03's inputs (:func:`~.prompts.load_train_inputs`, split fingerprint ``fingerprint``)
    and, with ``raw_text_emb`` (a stage-02 ``file:array``), each post's raw-text embedding."""
    _, preprocess, tokenizer, _ = prompts.load_backbone(profile, device)
    inputs = prompts.load_train_inputs(profile, preprocess, tokenizer, num_workers, expect_fingerprint=fingerprint)
    if raw_text_emb:
        (raw,) = load_raw_text(profile, raw_text_emb, inputs.posts["Pid"].to_numpy(), fingerprint).values()
        inputs.raw_text = torch.as_tensor(np.asarray(raw, dtype=np.float32))
    return inputs


def retrain(branch: str, profile: str, inputs: prompts.TrainInputs, pids, device) -> dict:
    """Stage 03's fine-tuning (its knobs and seed) with ``branch``'s change
    (``BRANCH_MODEL``); returns ``{"blocks": {block_name: array} (rows in ``pids`` order),
    "top1_val": {key: val top-1 of each trained branch}, "epoch_seconds": [...]}``."""
    cfg = config.stage("finetune", profile=profile)
    seed_everything(cfg.seed)
    clip, _, tokenizer, _ = prompts.load_backbone(profile, device)
    model = prompts.build_model(cfg, clip, tokenizer, inputs.bank, **BRANCH_MODEL[branch])
    rows = {"label": torch.as_tensor(inputs.labels), "text": inputs.text_tokens}
    raw = inputs.raw_text if model.raw_text else None
    if model.raw_text:
        if raw is None:
            raise ValueError(f"retrain {branch}: the model reads each post's raw-text embedding; "
                             "load_inputs(raw_text_emb=...) did not load one")
        rows["raw_text"] = raw
    hist = prompts.fit_loop(model, inputs.images, rows, inputs.rows("train"), epochs=cfg.epochs, lr=cfg.lr,
                            weight_decay=cfg.weight_decay, batch_size=cfg.batch_size, device=device,
                            seed=cfg.seed, desc=f"retrain {row_name(branch)}")
    pos = pd.Index(inputs.posts["Pid"]).get_indexer(np.asarray(pids))
    if (pos < 0).any():
        raise KeyError(f"retrain {branch}: {(pos < 0).sum()} Pids are not stage 03's posts, "
                       f"e.g. {np.asarray(pids)[pos < 0][:5].tolist()}")
    feats = prompts.extract(model, inputs.images, inputs.text_tokens, inputs.labels, idx=pos,
                            batch_size=2 * cfg.batch_size, device=device, raw_text=raw)
    top1 = prompts.branch_top1(feats, inputs.labels[pos], inputs.split[pos], "val")
    return {"blocks": {block_name(branch, b): feats[b] for b in BRANCH_BLOCKS[branch]},
            "top1_val": {k: top1.get(k) for k in BRANCH_TOP1[branch]}, "epoch_seconds": hist.epoch_seconds}


def fit_rows(profile: str, branches, fingerprint: str, meta: pd.DataFrame, pids, split, y,
             selection, seeds, bcfg, regressors, pca_dims, threads=None, device=None,
             raw_text_emb: str = "") -> tuple[list[dict], dict]:
    """Every retrained branch row: one :func:`retrain` per branch, then stage 05's GBDTs
    (``boosting.run_all``, every regressor x seed) on metadata + that model's blocks, train
    rows ``selection`` (the dual row's); ``raw_text_emb`` (stage-02 ``file:array``) is what the
    ``rawtags`` model reads. Returns (results named :func:`row_name`,
    {branch: {"top1_val", "epoch_seconds"}})."""
    branches = list(branches)
    if not branches:
        return [], {}
    device = device or get_device()
    inputs = load_inputs(profile, fingerprint, device, config.stage("finetune", profile=profile).num_workers,
                         raw_text_emb if "rawtags" in branches else "")
    results, info = [], {}
    for branch in branches:
        r = retrain(branch, profile, inputs, pids, device)
        X = boosting.feature_matrix(meta, r["blocks"], pca_dims, pids=pids,
                                    train_mask=np.asarray(split) == "train")
        name = row_name(branch)
        results += boosting.run_all({name: X}, {name: selection}, y, split, seeds, bcfg,
                                    threads=threads, pids=pids, regressors=regressors)
        info[branch] = {"top1_val": r["top1_val"], "epoch_seconds": r["epoch_seconds"]}
        top1 = ", ".join(f"{k} {v:.4f}" for k, v in r["top1_val"].items())
        print(f"{name}: {top1}, {len(r['epoch_seconds'])} epochs "
              f"{sum(r['epoch_seconds']):.0f} s, {X.shape[1]} features")
    return results, info
