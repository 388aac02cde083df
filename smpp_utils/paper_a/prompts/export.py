"""CLIPFT features of the prompt-tuned model (Paper A Sec. 3.4), the per-post classification
loss for the boosting stage's 77% selection, and the model file."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from ...core.device import autocast
from ...core.checkpoint import load_checkpoint, save_checkpoint
from ...core.io import save_arrays
from .images import ImageBank
from .model import PromptCLIP

# Order of the CLIPFT feature blocks (Paper A Sec. 3.4: F = [image, text, global, local,
# enhanced, class probabilities]); `clipft_matrix` concatenates them in this order.
FEATURE_BLOCKS = ("image", "text", "global", "local", "enhanced", "probs")
# the three branches whose own top-1 is reported (``pred_<branch>`` of :func:`extract`)
BRANCHES = ("global", "local", "enh")


def per_post_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of each row's label; label -1 (unseen class) -> CE to the uniform
    distribution (>= log K, i.e. ranked as hard by the selection)."""
    logp = torch.log_softmax(logits.float(), -1)
    known = labels >= 0
    loss = -logp.mean(-1)
    loss[known] = -logp[known].gather(1, labels[known, None]).squeeze(1)
    return loss


@torch.no_grad()
def extract(model: PromptCLIP, bank: ImageBank, text_tokens: torch.Tensor, labels: np.ndarray,
            idx=None, batch_size: int = 256, device=None, progress: bool = True,
            raw_text: torch.Tensor | None = None) -> dict:
    """CLIPFT arrays for rows ``idx`` (default: all), in that order: the blocks of
    ``FEATURE_BLOCKS`` (float32), ``pred`` [n] (final scores), ``pred_<branch>`` [n] for
    each of ``BRANCHES``, and ``cls_loss`` [n]. The features come from ``model.forward``,
    the very function the training loss is computed on; ``labels`` enter ``cls_loss`` only.
    ``raw_text`` (row-aligned with ``bank``): the per-post input of a ``raw_text=True`` model."""
    device = device or next(model.parameters()).device
    model.eval()
    idx = np.arange(bank.n) if idx is None else np.asarray(idx)
    labels = torch.as_tensor(np.asarray(labels), dtype=torch.long)
    texts = model.class_texts()                                   # once, not per batch
    keys = FEATURE_BLOCKS + ("cls_loss",) + tuple(f"pred_{b}" for b in BRANCHES)
    out = {k: [] for k in keys}
    for b, imgs in tqdm(bank.batches(idx, batch_size), total=math.ceil(len(idx) / batch_size),
                        desc="extract", leave=False, disable=not progress):
        tb = torch.from_numpy(b)
        with autocast(device):
            o = model(imgs.to(device), class_texts=texts,
                      raw_text=None if raw_text is None else raw_text[tb].to(device))
            t = model.encode_post_text(text_tokens[tb].to(device))
        logits = o["logits"].float()
        feats = {"image": o["image"], "text": t, "global": o["global"], "local": o["local"],
                 "enhanced": o["enhanced"], "probs": torch.softmax(logits, -1),
                 "cls_loss": per_post_loss(logits, labels[tb].to(device)),
                 **{f"pred_{br}": o[f"logits_{br}"].argmax(1) for br in BRANCHES}}
        for k, v in feats.items():
            out[k].append(v.cpu())
    res = {k: torch.cat(v).numpy() for k, v in out.items()}
    res = {k: v.astype(np.int64 if k.startswith("pred_") else np.float32) for k, v in res.items()}
    res["pred"] = res["probs"].argmax(1).astype(np.int64)
    return res


def clipft_matrix(arrays: dict) -> np.ndarray:
    """The CLIPFT feature matrix F = [image, text, global, local, enhanced, probs]."""
    return np.concatenate([arrays[k] for k in FEATURE_BLOCKS], axis=1)


def export_clipft(path, pids, arrays: dict, fingerprint: str, extra_meta: dict | None = None):
    """``data/<profile>/features/clipft.npz`` keyed by Pid: the feature blocks of
    ``FEATURE_BLOCKS`` plus ``cls_loss`` (not a feature: used for the boosting stage's
    loss-based sample selection). Refuses a row-count mismatch, leaving no file."""
    pids = np.asarray(pids)
    data = {k: arrays[k] for k in FEATURE_BLOCKS + ("cls_loss",)}
    bad = {k: len(v) for k, v in data.items() if len(v) != len(pids)}
    if bad:
        raise ValueError(f"{path}: {len(pids)} Pids but arrays with other row counts {bad}")
    meta = {"fingerprint": fingerprint, "blocks": list(FEATURE_BLOCKS),
            "dims": {k: int(np.asarray(arrays[k]).shape[1]) for k in FEATURE_BLOCKS}, **(extra_meta or {})}
    return save_arrays(path, pids, data, meta)


def save_model(path, model: PromptCLIP, config: dict, fingerprint: str) -> Path:
    """``models/<profile>/clipft.pt``: state dict, knobs, class names, fingerprint (plain
    tensors, strings and numbers only, so it loads with ``weights_only=True``)."""
    config = {k: v for k, v in dict(config).items() if isinstance(v, (str, int, float, bool, type(None)))}
    return save_checkpoint(path, {"state_dict": {k: v.cpu() for k, v in model.state_dict().items()},
                                  "config": config, "class_names": list(model.bank.class_names),
                                  "category_names": list(model.bank.category_names),
                                  "fingerprint": fingerprint})


def load_model_state(path, model: PromptCLIP, expect_fingerprint: str | None = None) -> dict:
    """Load ``save_model``'s file into ``model`` (weights only); refuses another split's
    file or another class list, naming the file. Returns the saved config."""
    st = load_checkpoint(path)
    if expect_fingerprint is not None and st.get("fingerprint") != expect_fingerprint:
        raise ValueError(f"{path}: written for split fingerprint {st.get('fingerprint')!r}, "
                         f"expected {expect_fingerprint!r}")
    if list(st["class_names"]) != list(model.bank.class_names):
        raise ValueError(f"{path}: saved for another class list ({len(st['class_names'])} classes)")
    model.load_state_dict(st["state_dict"])
    return st["config"]
