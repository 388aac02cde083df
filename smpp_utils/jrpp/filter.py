"""Differentiable top-k' selection of the retrieved posts with the Gumbel-softmax
(JRPP Eq. 7).

A scorer maps every retrieved candidate (its representation, the query and its MoL score)
to a logit l_j. Row i of the selection matrix S [k', k] is

    S_ij = softmax_j((l_j + xi_ij) / tau),   xi_ij ~ Gumbel(0, 1)              (Eq. 7)

In training the rows are straight-through hard: the forward pass is the one-hot argmax,
the backward pass the soft row's gradient; candidates chosen by earlier rows are masked,
so the k' rows pick k' distinct candidates (sampling without replacement). At evaluation
the selection is the deterministic top-k' of the logits (no noise). R' = S R.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def gumbel_noise(shape, generator: torch.Generator | None, device) -> torch.Tensor:
    u = torch.rand(shape, generator=generator, device=device)
    return -torch.log((-torch.log(u.clamp_min(1e-10))).clamp_min(1e-10))   # xi ~ Gumbel(0, 1)


def gumbel_topk(logits: torch.Tensor, kprime: int, tau: float = 1.0, hard: bool = True,
                noise: bool = True, generator: torch.Generator | None = None) -> torch.Tensor:
    """Selection matrix S [B, k', k] from logits [B, k]."""
    b, k = logits.shape
    if not 1 <= kprime <= k:
        raise ValueError(f"k'={kprime} must be in [1, k={k}]")
    if tau <= 0:
        raise ValueError(f"Gumbel temperature must be > 0, got {tau}")
    xi = gumbel_noise((b, kprime, k), generator, logits.device) if noise else None
    taken = torch.zeros(b, k, dtype=torch.bool, device=logits.device)
    rows = []
    for i in range(kprime):
        z = logits if xi is None else logits + xi[:, i]                    # l_j + xi_ij (Eq. 7)
        z = z.masked_fill(taken, float("-inf"))                            # without replacement
        soft = F.softmax(z / tau, dim=-1)                                  # S_ij (Eq. 7)
        pick = z.argmax(dim=-1)
        one_hot = F.one_hot(pick, k).to(soft.dtype)
        rows.append(one_hot - soft.detach() + soft if hard else soft)      # straight-through
        taken = taken | one_hot.bool()
    return torch.stack(rows, dim=1)


class GumbelFilter(nn.Module):
    """Scorer over [candidate; query; MoL score] -> logit, then Gumbel top-k'."""

    def __init__(self, cand_dim: int, query_dim: int, hidden: int = 64, tau: float = 1.0):
        super().__init__()
        self.tau = tau
        self.scorer = nn.Sequential(nn.Linear(cand_dim + query_dim + 1, hidden), nn.GELU(),
                                    nn.Linear(hidden, 1))

    def logits(self, cand: torch.Tensor, query: torch.Tensor, score: torch.Tensor) -> torch.Tensor:
        q = query.unsqueeze(1).expand(-1, cand.shape[1], -1)
        return self.scorer(torch.cat([cand, q, score.unsqueeze(-1)], dim=-1)).squeeze(-1)

    def forward(self, cand, query, score, kprime: int, generator=None, noise: bool | None = None):
        """Returns (S [B,k',k], R' = S R [B,k',d], selected scores S s [B,k']). ``noise``:
        Gumbel noise on (default: in training only)."""
        lg = self.logits(cand, query, score)
        noise = self.training if noise is None else noise
        sel = gumbel_topk(lg, kprime, self.tau, hard=True, noise=noise, generator=generator)
        return sel, sel @ cand, (sel @ score.unsqueeze(-1)).squeeze(-1)   # R' = S R (Eq. 7)
