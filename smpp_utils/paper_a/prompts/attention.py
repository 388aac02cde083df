"""Cross-modal projection of Paper A Sec. 3.3 (Eq. 6): self-attention over the set formed by
the image feature and the hierarchical prototypes, read at the image position.

The set is S = [x; V_1..V_K; T_1..T_K; Vc_1..Vc_C; Tc_1..Tc_C]: the post's image feature and
*every* visual/textual prototype at subcategory and category level (Sec. 3.1), each with a
learned type embedding (image, visual, textual, category visual, category textual). The
enhanced feature is LayerNorm(x + Attn(S)[x]). Eq. 6 concatenates the features and relies on
the permutation invariance of attention, so the prototypes enter as a set and attention
itself decides which of them to fuse.

No class label enters this module, in training or at inference: an earlier version gave
the attention the *true* class's prototypes during training and similarity-weighted ones at
inference. The head then learned to read the label off the prototype it was handed (99% top-1
with true-class prototypes, 2% with the inference ones on ci; chance 1.4%), and the
enhanced/probability features and the per-post loss used for the 77% selection carried that
shortcut. Attending over the whole bank is the same computation in both modes.

Only the image position's output is read, so only its query is computed: exactly the
self-attention output at that position, at 1/(1+2K+2C) of the cost.

``own_text=True`` is the "raw user tags instead of textual prototypes" ablation (notebook 10,
retrained): the textual members T_1..T_K, Tc_1..Tc_C are replaced by ONE member, the post's own
title + tags embedding (same encoder and width as the textual prototypes), S = [x; V; t; Vc].
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .bank import PrototypeBank

# type ids of the set's members
IMAGE, VISUAL, TEXTUAL, CAT_VISUAL, CAT_TEXTUAL = range(5)


def _unit(p: torch.Tensor, proj: nn.Module) -> torch.Tensor:
    return F.normalize(proj(p), dim=-1)


class CrossModalProjection(nn.Module):
    """``forward(x [B, d], text=None) -> enhanced [B, d]`` (Eq. 6). The prototypes are fixed
    buffers; a linear map brings them to the CLIP space when their width differs (MiniLM
    text). ``own_text``: ``text`` [B, d_text] (each post's raw-text embedding) stands in for
    the textual prototypes."""

    def __init__(self, bank: PrototypeBank, dim: int, heads: int = 4, own_text: bool = False):
        super().__init__()
        for name in ("visual", "textual", "cat_visual", "cat_textual"):
            self.register_buffer(f"p_{name}", torch.as_tensor(np.asarray(getattr(bank, name)),
                                                              dtype=torch.float32))
        dv, dt = self.p_visual.shape[1], self.p_textual.shape[1]
        self.proj_v = nn.Identity() if dv == dim else nn.Linear(dv, dim)
        self.proj_t = nn.Identity() if dt == dim else nn.Linear(dt, dim)
        K, C = bank.num_classes, len(bank.category_names)
        self.own_text = bool(own_text)
        types = ([IMAGE] + [VISUAL] * K + [TEXTUAL] + [CAT_VISUAL] * C if own_text else
                 [IMAGE] + [VISUAL] * K + [TEXTUAL] * K + [CAT_VISUAL] * C + [CAT_TEXTUAL] * C)
        self.register_buffer("types", torch.as_tensor(types), persistent=False)
        self.type_embed = nn.Parameter(torch.zeros(5, dim))
        self.attn = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.norm = nn.LayerNorm(dim)

    def prototypes(self) -> torch.Tensor:
        """[2K + 2C, d] the normalized prototype set in type order (V, T, Vc, Tc)."""
        return torch.cat([_unit(self.p_visual, self.proj_v), _unit(self.p_textual, self.proj_t),
                          _unit(self.p_cat_visual, self.proj_v), _unit(self.p_cat_textual, self.proj_t)])

    def members(self, x: torch.Tensor, text: torch.Tensor | None) -> torch.Tensor:
        """[B, 1+N, d] the set S in type order (``types``)."""
        if self.own_text != (text is not None):
            raise ValueError("CrossModalProjection: " + ("own_text needs each post's raw-text embedding"
                             if self.own_text else "a raw-text input is only read with own_text=True"))
        if not self.own_text:
            P = self.prototypes().to(x.dtype)
            return torch.cat([x[:, None], P[None].expand(len(x), -1, -1)], dim=1)
        if text.shape != (len(x), self.p_textual.shape[1]):
            raise ValueError(f"CrossModalProjection: raw text of shape {tuple(text.shape)}, expected "
                             f"({len(x)}, {self.p_textual.shape[1]}) (the textual prototypes' width)")
        n = len(x)
        v, vc = (_unit(p, self.proj_v).to(x.dtype)[None].expand(n, -1, -1)
                 for p in (self.p_visual, self.p_cat_visual))
        t = _unit(text.float(), self.proj_t).to(x.dtype)[:, None]
        return torch.cat([x[:, None], v, t, vc], dim=1)

    def forward(self, x: torch.Tensor, text: torch.Tensor | None = None) -> torch.Tensor:
        seq = self.members(x, text)                                              # [B, 1+N, d]
        seq = seq + self.type_embed.to(x.dtype)[self.types]
        out, _ = self.attn(seq[:, :1], seq, seq, need_weights=False)           # Eq. 6 at x
        return self.norm(x + out[:, 0])
