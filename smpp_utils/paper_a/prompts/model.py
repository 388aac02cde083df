"""The stage-1 network of Paper A (Sec. 3): CLIP + dual-grained prompts (Sec. 3.2) +
prototype cross-modal projection (Sec. 3.3, Eq. 6) + a linear head on the enhanced feature.

Loss (class-level = global): ``L = w_g CE_global + w_e CE_enh + w_l CE_local
+ w_c ClipLoss(image, own post text)``, with ``w_e = w_g`` unless set (stage 03; notebook 10's
retrained "w/o prototypes" row sets ``w_e = 0``). Final class scores are the mean of the global, local
and enhanced logits. ``forward`` never sees a label: the loss is computed on exactly the
outputs that feature extraction reads (train and eval forward are the same function; no
dropout anywhere in the prompt parts).

* With ``freeze_backbone`` the contrastive term has no trainable input and is skipped.
* The token-embedding (vocabulary) table is never trained (as in CoOp); everything else of
  the backbone is, unless ``freeze_backbone``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .attention import CrossModalProjection
from .bank import PrototypeBank
from .learners import GlobalPrompts, LocalPrompts
from .towers import _TextParts, encode_text_trimmed, image_tower_tokens, num_patches


class PromptCLIP(nn.Module):
    """``forward(images)`` returns ``logits_global``, ``logits_local``, ``logits_enh``,
    ``logits`` (their mean) [B, K] and the features ``image``, ``global``, ``local``,
    ``enhanced`` [B, d]."""

    def __init__(self, clip, tokenizer, bank: PrototypeBank, global_ctx: int = 16,
                 local_ctx: int = 8, temperature: float = 0.07, attn_heads: int = 4,
                 freeze_backbone: bool = False, w_global: float = 1.0, w_local: float = 1.0,
                 w_contrastive: float = 1.0, w_enhanced: float | None = None,
                 raw_text: bool = False):
        super().__init__()
        self.clip = clip
        self.bank = bank
        self.temperature = float(temperature)
        self.freeze_backbone = bool(freeze_backbone)
        w_enh = w_global if w_enhanced is None else w_enhanced     # the class-level terms share w_g
        self.w = {"global": float(w_global), "enhanced": float(w_enh), "local": float(w_local),
                  "contrastive": float(w_contrastive)}
        if freeze_backbone:
            clip.requires_grad_(False)
        tp = _TextParts(clip)
        # the vocabulary table (49k x width) stays fixed: prompts replace words by learned
        # context, and its dense gradient + AdamW state would dominate a CPU step
        tp.token_embedding.requires_grad_(False)
        width = tp.token_embedding.embedding_dim
        d = int(clip.visual.output_dim)
        self.dim = d
        g = torch.Generator().manual_seed(0)
        self.global_prompts = GlobalPrompts(tokenizer, bank.class_names, global_ctx, width, g)
        self.local_prompts = LocalPrompts(tokenizer, bank.class_names, local_ctx, width, g,
                                          num_patches(clip))
        self.cross_modal = CrossModalProjection(bank, d, attn_heads, own_text=raw_text)
        self.raw_text = bool(raw_text)
        self.head = nn.Linear(d, bank.num_classes)
        from open_clip.loss import ClipLoss
        self.clip_loss = ClipLoss()

    # ------------------------------------------------------------------ encoders
    def encode_images(self, images):
        with torch.set_grad_enabled(torch.is_grad_enabled() and not self.freeze_backbone):
            pooled, tokens = image_tower_tokens(self.clip, images.float())
        return F.normalize(pooled, dim=-1), F.normalize(tokens, dim=-1)

    def encode_post_text(self, text_tokens):
        return F.normalize(encode_text_trimmed(self.clip, text_tokens), dim=-1)

    def class_texts(self) -> tuple[torch.Tensor, torch.Tensor]:
        """([K, d] global class embeddings, [K, L, d] local prompt tokens); constant within a
        forward pass, so extraction computes them once (``forward(..., class_texts=)``)."""
        return self.global_prompts.class_text(self.clip), self.local_prompts.class_text(self.clip)

    # ------------------------------------------------------------------ forward / loss
    def forward(self, images, class_texts=None, raw_text=None) -> dict:
        """``raw_text`` [B, d_text]: each post's raw title + tags embedding, read (and required)
        only by a ``raw_text=True`` model (the textual prototypes' stand-in, see attention.py)."""
        x, patches = self.encode_images(images)
        g, l_ = class_texts if class_texts is not None else self.class_texts()
        logits_global = self.global_prompts.logits(x, g, self.temperature)
        logits_local = self.local_prompts.scores(patches, l_) / self.temperature
        enhanced = self.cross_modal(x, raw_text)                          # Eq. 6
        logits_enh = self.head(enhanced).to(logits_global.dtype)
        return {"image": x, "global": GlobalPrompts.feature(logits_global, g),
                "local": self.local_prompts.feature(patches), "enhanced": enhanced,
                "logits_global": logits_global, "logits_local": logits_local,
                "logits_enh": logits_enh,
                "logits": (logits_global + logits_local + logits_enh) / 3}

    def loss_parts(self, batch: dict) -> dict:
        """L = w_g * CE_global + w_e * CE_enh + w_l * CE_local + w_c * ClipLoss(x, own text)."""
        y = batch["label"]
        if (y < 0).any():
            raise ValueError("PromptCLIP.loss_parts: labels must be known classes during training")
        out = self(batch["images"], raw_text=batch.get("raw_text"))
        parts = {"global": F.cross_entropy(out["logits_global"].float(), y),
                 "enhanced": F.cross_entropy(out["logits_enh"].float(), y),
                 "local": F.cross_entropy(out["logits_local"].float(), y)}
        if not self.freeze_backbone and self.w["contrastive"] > 0 and "text" in batch:
            t = self.encode_post_text(batch["text"])
            parts["contrastive"] = self.clip_loss(out["image"].float(), t.float(), 1.0 / self.temperature)
        parts["total"] = sum(self.w[k] * v for k, v in parts.items())
        return parts

    def training_loss(self, batch: dict) -> torch.Tensor:
        return self.loss_parts(batch)["total"]

    def validation_loss(self, batch: dict) -> torch.Tensor:
        """Mean cross-entropy of the final class scores (early stopping; unseen posts skipped)."""
        y = batch["label"]
        logits = self(batch["images"], raw_text=batch.get("raw_text"))["logits"].float()
        known = y >= 0
        return F.cross_entropy(logits[known], y[known]) if known.any() else logits.sum() * 0

    def trainable_parameters(self):
        return [p for p in self.parameters() if p.requires_grad]
