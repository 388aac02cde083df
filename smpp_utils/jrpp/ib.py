"""Information-bottleneck refinement of the selected posts (JRPP Eq. 8-13).

For each selected candidate x'_r and the query x_c a Gaussian posterior
q(z_r | x'_r, x_c) = N(mu, diag(sigma^2)) with (mu, log sigma^2) = f_IB([x'_r; x_c]);
z = mu + sigma * eps in training (re-parameterisation), z = mu at evaluation. The
regulariser is beta * sum_j KL(q(z_j) || N(0, I)), summed over the k' posts and the latent
dimensions and averaged over the batch.
"""

from __future__ import annotations

import torch
from torch import nn

LOGVAR_CLAMP = (-10.0, 10.0)


def kl_std_normal(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, e^logvar) || N(0, I)) summed over all but the first (batch) dim, then
    averaged over the batch (Eq. 12)."""
    kl = 0.5 * (mu.pow(2) + logvar.exp() - logvar - 1.0)
    return kl.flatten(1).sum(1).mean()


class InformationBottleneck(nn.Module):
    def __init__(self, cand_dim: int, query_dim: int, z_dim: int, hidden: int | None = None):
        super().__init__()
        hidden = hidden or 2 * z_dim
        self.net = nn.Sequential(nn.Linear(cand_dim + query_dim, hidden), nn.GELU(),
                                 nn.Linear(hidden, 2 * z_dim))

    def forward(self, cand: torch.Tensor, query: torch.Tensor, generator=None):
        """cand [B,k',dc], query [B,dq] -> (z [B,k',dz], kl scalar)."""
        q = query.unsqueeze(1).expand(-1, cand.shape[1], -1)
        mu, logvar = self.net(torch.cat([cand, q], dim=-1)).chunk(2, dim=-1)   # f_IB (Eq. 10)
        logvar = logvar.clamp(*LOGVAR_CLAMP)
        if self.training:
            eps = torch.randn(mu.shape, generator=generator, device=mu.device, dtype=mu.dtype)
            z = mu + (0.5 * logvar).exp() * eps                                # re-param. (Eq. 9)
        else:
            z = mu
        return z, kl_std_normal(mu, logvar)                                    # Eq. 12-13
