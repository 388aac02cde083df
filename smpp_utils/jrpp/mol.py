"""Mixture-of-Logits similarity (JRPP Eq. 4-5; Zhai et al. 2023, Ding & Zhai 2025).

A query post c and a candidate post r (both already projected to ``proj_dim`` by the
shared post encoder) are mapped to M pairs of low-rank, L2-normalised embeddings
f_m(x_c), g_m(x_r). The similarity is a gated sum of the M cosines,

    s(c, r) = sum_m w_m(c, r) cos(f_m(x_c), g_m(x_r)),   w_m in [0, 1]   (Eq. 5)

so |s| <= sum_m w_m <= M. The gate is a small MLP over [query summary; candidate summary;
the M cosines]; its first layer is split into a query part, a candidate part and a cosine
part (a linear layer over a concatenation is the sum of the parts), so the query and
candidate parts are computed once per post and only the cosine part per pair.

Optionally the last component is a learned user-id embedding shared by both sides
(vocabulary = train users, row 0 = unseen user = zero vector, so that component
contributes a cosine of 0 for unseen users): posts of the same or of similar users match.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class MixtureOfLogits(nn.Module):
    def __init__(self, in_dim: int, n_mol: int = 16, mol_dim: int = 64, n_users: int = 0,
                 gate_hidden: int = 64):
        super().__init__()
        if n_mol < 1 or mol_dim < 1:
            raise ValueError(f"MoL needs n_mol >= 1 and mol_dim >= 1, got {n_mol}, {mol_dim}")
        self.n_mol, self.mol_dim = n_mol, mol_dim
        self.use_user = n_users > 1 and n_mol > 1
        self.n_content = n_mol - int(self.use_user)
        self.f = nn.Linear(in_dim, self.n_content * mol_dim)   # query towers f_m (Eq. 4)
        self.g = nn.Linear(in_dim, self.n_content * mol_dim)   # candidate towers g_m (Eq. 4)
        if self.use_user:
            self.user = nn.Embedding(n_users, mol_dim, padding_idx=0)
            nn.init.normal_(self.user.weight, std=0.1)
            with torch.no_grad():
                self.user.weight[0].zero_()
        # gate MLP, first layer split by input block
        self.gate_q = nn.Linear(in_dim, gate_hidden)
        self.gate_c = nn.Linear(in_dim, gate_hidden, bias=False)
        self.gate_l = nn.Linear(n_mol, gate_hidden, bias=False)
        self.gate_out = nn.Linear(gate_hidden, n_mol)

    # ------------------------------------------------------------------ per-post parts
    def _components(self, tower: nn.Linear, x: torch.Tensor, user: torch.Tensor | None):
        comp = torch.tanh(tower(x)).view(*x.shape[:-1], self.n_content, self.mol_dim)
        if self.use_user:
            if user is None:
                raise ValueError("this MoL has a user component: pass the user ids")
            comp = torch.cat([comp, self.user(user).unsqueeze(-2)], dim=-2)
        return F.normalize(comp, dim=-1)          # l2-normalised low-rank embeddings (Eq. 4)

    def query_components(self, x, user=None) -> torch.Tensor:
        """f_m(x_c): [..., M, mol_dim]."""
        return self._components(self.f, x, user)

    def item_components(self, x, user=None) -> torch.Tensor:
        """g_m(x_r): [..., M, mol_dim]."""
        return self._components(self.g, x, user)

    def query_summary(self, x) -> torch.Tensor:
        return self.gate_q(x)

    def item_summary(self, x) -> torch.Tensor:
        return self.gate_c(x)

    # ------------------------------------------------------------------ pair scores
    def gate(self, qs: torch.Tensor, rs: torch.Tensor, cos: torch.Tensor) -> torch.Tensor:
        """w_m(c, r) in [0, 1] (Eq. 5) from query summary [B,1,H], candidate summary
        [B,K,H] and cosines [B,K,M]."""
        return torch.sigmoid(self.gate_out(F.gelu(qs + rs + self.gate_l(cos))))

    def score(self, qc, qs, rc, rs):
        """Gathered candidates: qc [B,M,D], qs [B,H], rc [B,K,M,D], rs [B,K,H].
        Returns (s [B,K], w [B,K,M], cos [B,K,M])."""
        cos = torch.einsum("bmd,bkmd->bkm", qc, rc)            # per-component cosines (Eq. 5)
        w = self.gate(qs.unsqueeze(1), rs, cos)
        return (w * cos).sum(-1), w, cos                        # s = sum_m w_m cos_m (Eq. 5)

    @torch.no_grad()
    def score_bank(self, qc, qs, rc, rs, chunk: int = 65536) -> torch.Tensor:
        """Brute force over a whole bank shared by all queries: qc [B,M,D], rc [N,M,D],
        rs [N,H] -> s [B,N] (chunked over N; used by the benchmark and by tests)."""
        out = []
        for s in range(0, rc.shape[0], chunk):
            cos = torch.einsum("bmd,nmd->bnm", qc, rc[s:s + chunk])
            w = self.gate(qs.unsqueeze(1), rs[s:s + chunk].unsqueeze(0), cos)
            out.append((w * cos).sum(-1))
        return torch.cat(out, dim=1)

    # ------------------------------------------------------------------ shortlist vectors
    def shortlist_vectors(self, comp: torch.Tensor, mode: str = "concat") -> torch.Tensor:
        """Vectors whose inner product approximates the MoL score with uniform gates, for
        the faiss shortlist. ``concat``: [f_1..f_M]/sqrt(M), so <q, r> = mean_m cos_m exactly
        (M*mol_dim wide); ``mean``: the component-averaged embedding (mol_dim wide, cheaper,
        cross-component terms included)."""
        if mode == "concat":
            return comp.flatten(-2) / math.sqrt(comp.shape[-2])
        if mode == "mean":
            return comp.mean(-2)
        raise ValueError(f"unknown shortlist mode {mode!r}; expected 'concat' or 'mean'")
