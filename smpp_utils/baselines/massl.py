"""MASSL - Zhang, Xu, Guo and Lian (2022), "Multi-Modal Variational Auto-Encoder Model for
Micro-Video Popularity Prediction", ICCI.

Original: a multimodal VAE - each modality is encoded to a Gaussian latent, decoders
reconstruct the modalities (self-supervised, including cross-modal reconstruction so the
latents share information), and a regressor predicts popularity from the latents.
Here: Gaussian encoders (latent 32) for image and text; decoders reconstruct each
standardised embedding from its own latent and from the other modality's latent
(cross-modal self-supervision); the regressor reads [z_img; z_txt; context]. Loss =
MSE + 0.1 * mean reconstruction MSE + 1e-3 * KL. Simplified: two modalities (no audio),
single-layer decoders, posterior means at prediction.
"""

from __future__ import annotations

import torch
from torch import nn

from .fit import multimodal_build, run_neural
from .layers import Context, Regressor, mlp
from .hmmved import GaussEncoder, kl_std_normal

W_REC, BETA = 0.1, 1e-3


class MASSL(Regressor):
    def __init__(self, d_img, d_txt, d_meta, n_cats, y_mean, y_std, d_z=32):
        super().__init__(y_mean, y_std)
        self.enc_img, self.enc_txt = GaussEncoder(d_img, d_z), GaussEncoder(d_txt, d_z)
        self.dec_img, self.dec_txt = nn.Linear(d_z, d_img), nn.Linear(d_z, d_txt)
        self.ctx = Context(d_meta, n_cats, 32)
        self.head = mlp(2 * d_z + 32, 128, 1, 0.1)

    def forward(self, b):
        (mi, li), (mt, lt) = self.enc_img(b["img"]), self.enc_txt(b["txt"])
        if self.training:
            zi = mi + torch.randn_like(mi) * torch.exp(0.5 * li)
            zt = mt + torch.randn_like(mt) * torch.exp(0.5 * lt)
            mse = nn.functional.mse_loss
            rec = (mse(self.dec_img(zi), b["img"]) + mse(self.dec_txt(zt), b["txt"])      # self
                   + mse(self.dec_img(zt), b["img"]) + mse(self.dec_txt(zi), b["txt"])) / 4  # cross-modal
            self._aux = W_REC * rec + BETA * (kl_std_normal(mi, li) + kl_std_normal(mt, lt))
        else:
            zi, zt = mi, mt
        return self.head(torch.cat([zi, zt, torch.relu(self.ctx(b))], -1)).squeeze(-1)


def run(data, info, seed, cfg):
    return run_neural(data, info, seed, cfg, multimodal_build(MASSL))
