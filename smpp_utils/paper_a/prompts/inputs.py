"""What the stage-03 prompt model trains on, loaded once, and the model built from the
``finetune`` knobs: shared by notebook 03 and notebook 10's retrained rows (``branch_retrain``),
so a retrained model differs from stage 03's only in what its row changes."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from ...core import io, paths
from ...data import load_posts
from ...embed.encoders import post_texts
from ..prototypes import load_prototypes
from .bank import PrototypeBank, bank_from_prototypes, post_labels
from .images import ImageBank, tokenize_posts
from .model import PromptCLIP


@dataclass
class TrainInputs:
    """Every post of ``posts.parquet`` (labelled or not: features are exported for all), its
    class index (-1 = unseen), split ('unlabelled' for the official test posts), the prototype
    bank of stage 02, the decoded images and the tokenised post texts, row-aligned; ``raw_text``
    (optional) each post's raw-text embedding for a ``PromptCLIP(raw_text=True)`` model."""
    posts: pd.DataFrame
    fingerprint: str
    labels: np.ndarray
    split: np.ndarray
    bank: PrototypeBank
    images: ImageBank
    text_tokens: torch.Tensor
    raw_text: torch.Tensor | None = None

    def rows(self, split: str) -> np.ndarray:
        """Row positions of one split."""
        return np.flatnonzero(self.split == split)


def load_train_inputs(profile: str, preprocess, tokenizer, num_workers: int = 0,
                      expect_fingerprint: str | None = None) -> TrainInputs:
    """Stage 03's inputs (``preprocess`` / ``tokenizer`` of :func:`.towers.load_backbone`); the
    prototypes are checked against the split fingerprint, and that against
    ``expect_fingerprint`` when given."""
    d = paths.data_dir(profile)
    posts, fp = load_posts(profile, labelled_only=False)
    if expect_fingerprint is not None and fp != expect_fingerprint:
        raise io.FingerprintMismatch(f"{d / 'splits.parquet'}: split fingerprint {fp!r}, "
                                     f"expected {expect_fingerprint!r}")
    bank = bank_from_prototypes(load_prototypes(d / "prototypes.npz", expect_fingerprint=fp))
    root = paths.resolve(io.read_parquet_meta(d / "posts.parquet")["root"])
    images = ImageBank.from_posts(posts, root, preprocess, num_workers=num_workers, cache_gb=2.0)
    return TrainInputs(posts, fp, post_labels(posts, bank),
                       posts["split"].astype("string").fillna("unlabelled").to_numpy(), bank, images,
                       tokenize_posts(tokenizer, post_texts(posts)))


def build_model(cfg, clip, tokenizer, bank: PrototypeBank, **changes) -> PromptCLIP:
    """:class:`PromptCLIP` with the ``finetune`` knobs ``cfg``; ``changes`` override its keyword
    arguments (the retrained ablation rows: a loss weight, ``raw_text``)."""
    kwargs = dict(global_ctx=cfg.global_ctx, local_ctx=cfg.local_ctx, temperature=cfg.temperature,
                  attn_heads=cfg.attn_heads, w_global=cfg.w_global, w_local=cfg.w_local,
                  w_contrastive=cfg.w_contrastive, freeze_backbone=bool(cfg.freeze_backbone))
    return PromptCLIP(clip, tokenizer, bank, **{**kwargs, **changes})
