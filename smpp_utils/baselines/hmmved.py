"""HMMVED - Xie, Zhu and Chen (2023), "Micro-Video Popularity Prediction via Multimodal
Variational Information Bottleneck", IEEE Transactions on Multimedia (cited for HMMVED in
JRPP; the encoder-decoder design goes back to Xie et al. 2020, WWW).

Original: per-modality (visual, acoustic, textual, social) variational encoders give
Gaussian posteriors that are fused (product/mixture of experts) into one stochastic
embedding; a decoder regresses popularity from it, trained with a KL (information
bottleneck) term towards a standard normal prior.
Here: Gaussian encoders (MLP, latent 32) for image, text and context (metadata +
subcategory); product of experts with the N(0, I) prior expert; reparameterised sample
during training, the posterior mean at prediction; MLP decoder; loss = MSE + beta * KL
(beta = 1e-3, per latent dimension). Simplified: no acoustic modality, no hierarchy.
"""

from __future__ import annotations

import torch
from torch import nn

from .fit import multimodal_build, run_neural
from .layers import Context, Regressor, mlp

BETA = 1e-3


class GaussEncoder(nn.Module):
    def __init__(self, d_in, d_z, hidden=128):
        super().__init__()
        self.net = mlp(d_in, hidden, 2 * d_z, 0.1)

    def forward(self, x):
        mu, logvar = self.net(x).chunk(2, -1)
        return mu, logvar.clamp(-8, 8)


def product_of_experts(mus, logvars):
    """Gaussian PoE with a N(0, I) prior expert: precision-weighted mean."""
    prec = [torch.exp(-lv) for lv in logvars]
    total = 1.0 + sum(prec)
    mu = sum(m * p for m, p in zip(mus, prec)) / total
    return mu, -torch.log(total)


def kl_std_normal(mu, logvar):
    return 0.5 * torch.mean(torch.sum(mu ** 2 + logvar.exp() - 1 - logvar, -1)) / mu.shape[-1]


class HMMVED(Regressor):
    def __init__(self, d_img, d_txt, d_meta, n_cats, y_mean, y_std, d_z=32):
        super().__init__(y_mean, y_std)
        self.ctx = Context(d_meta, n_cats, 32)
        self.enc = nn.ModuleDict({"img": GaussEncoder(d_img, d_z), "txt": GaussEncoder(d_txt, d_z),
                                  "ctx": GaussEncoder(32, d_z, 64)})
        self.dec = mlp(d_z, 64, 1, 0.1)

    def forward(self, b):
        xs = {"img": b["img"], "txt": b["txt"], "ctx": torch.relu(self.ctx(b))}
        stats = [self.enc[k](xs[k]) for k in ("img", "txt", "ctx")]
        mu, logvar = product_of_experts([s[0] for s in stats], [s[1] for s in stats])
        if self.training:
            z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
            self._aux = BETA * kl_std_normal(mu, logvar)
        else:
            z = mu
        return self.dec(z).squeeze(-1)


def run(data, info, seed, cfg):
    return run_neural(data, info, seed, cfg, multimodal_build(HMMVED))
