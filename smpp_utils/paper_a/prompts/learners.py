"""Dual-grained prompt learners of Paper A Sec. 3.2.

* :class:`GlobalPrompts` - CoOp-style learned context before each class name
  ("X X ... X <class name>." with the X positions replaced by context vectors); the class
  embedding is the text tower's output at the EOT token.
* :class:`LocalPrompts` - the same kind of context, but every token of the prompt is kept:
  cos(image patch i, prompt token j) -> max over the prompt's valid tokens j -> a learned
  softmax-weighted sum over patch positions i ("local branch information is spatially
  aggregated").

The CLIP model is passed to each call rather than held, so it is registered only once (on
:class:`~smpp_utils.paper_a.prompts.model.PromptCLIP`).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .towers import _TextParts, text_tower_tokens


class _ContextPrompts(nn.Module):
    """``n_ctx`` learned context vectors [n_ctx, width] and the tokenized class prompts."""

    def __init__(self, tokenizer, class_names, n_ctx: int, width: int, generator: torch.Generator):
        super().__init__()
        self.ctx = nn.Parameter(torch.randn(n_ctx, width, generator=generator) * 0.02)
        toks = tokenizer([" ".join(["X"] * n_ctx) + " " + c + "." for c in class_names])
        eot = toks.argmax(dim=-1)
        L = int(eot.max()) + 1                        # trim padding shared by every class
        self.register_buffer("tokens", toks[:, :L].clone(), persistent=False)
        self.register_buffer("eot", eot.clone(), persistent=False)

    def embeddings(self, clip) -> torch.Tensor:
        """[K, L, width]: start token, context vectors, then class name, '.', EOT, padding."""
        emb = _TextParts(clip).token_embedding(self.tokens)
        n = self.ctx.shape[0]
        ctx = self.ctx.to(emb.dtype).unsqueeze(0).expand(emb.shape[0], -1, -1)
        return torch.cat([emb[:, :1], ctx, emb[:, 1 + n:]], dim=1)

    def token_features(self, clip) -> torch.Tensor:
        """[K, L, d] every position of the prompts through the text tower (not normalized)."""
        return text_tower_tokens(clip, self.embeddings(clip))


class GlobalPrompts(_ContextPrompts):
    def class_text(self, clip) -> torch.Tensor:
        """[K, d] normalized class embeddings (EOT position)."""
        out = self.token_features(clip)
        return F.normalize(out[torch.arange(out.shape[0], device=out.device), self.eot], dim=-1)

    def logits(self, x: torch.Tensor, class_text: torch.Tensor, temperature: float) -> torch.Tensor:
        """cos(image, class prompt) / t: [B, d] x [K, d] -> [B, K]."""
        return x @ class_text.t().to(x.dtype) / temperature

    @staticmethod
    def feature(logits: torch.Tensor, class_text: torch.Tensor) -> torch.Tensor:
        """[B, d] the probability-weighted class prompt embedding (a CLIPFT block)."""
        return torch.softmax(logits.float(), -1) @ class_text.float()


class LocalPrompts(_ContextPrompts):
    def __init__(self, tokenizer, class_names, n_ctx: int, width: int, generator: torch.Generator,
                 num_patches: int):
        super().__init__(tokenizer, class_names, n_ctx, width, generator)
        pos = torch.arange(self.tokens.shape[1])
        # valid text tokens: context + name + EOT (start token excluded, padding masked)
        self.register_buffer("mask", (pos[None] >= 1) & (pos[None] <= self.eot[:, None]),
                             persistent=False)
        # learned spatial weights over patch positions (softmax, uniform at start)
        self.spatial = nn.Parameter(torch.zeros(num_patches))

    def class_text(self, clip) -> torch.Tensor:
        """[K, L, d] normalized token embeddings of the prompts (valid ones: ``mask``)."""
        return F.normalize(self.token_features(clip), dim=-1)

    def spatial_weights(self) -> torch.Tensor:
        return torch.softmax(self.spatial, dim=0)

    def scores(self, patches: torch.Tensor, class_tokens: torch.Tensor) -> torch.Tensor:
        """cos(patch i, token j) -> max over valid j -> spatially weighted sum over i:
        [B, P, d] x [K, L, d] -> [B, K] (weighted cosines, in [-1, 1])."""
        sim = torch.einsum("bpd,kld->bkpl", patches, class_tokens.to(patches.dtype))
        sim = sim.masked_fill(~self.mask[None, :, None, :], -2.0)
        return torch.einsum("bkp,p->bk", sim.amax(dim=-1), self.spatial_weights().to(sim.dtype))

    def feature(self, patches: torch.Tensor) -> torch.Tensor:
        """[B, d] the spatially weighted patch feature (a CLIPFT block)."""
        return torch.einsum("bpd,p->bd", patches.float(), self.spatial_weights().float())
