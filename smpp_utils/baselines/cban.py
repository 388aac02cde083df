"""CBAN - Cheung and Lam (2022), "Crossmodal Bipolar Attention for Multimodal Classification
on Social Media", Neurocomputing 514.

Original: image regions and text words attend to each other with two poles - ordinary
(positive) attention that gathers the most related parts of the other modality, and
inverse (negative) attention that gathers the least related ones, exposing cross-modal
incongruity; the pooled results feed a classifier.
Here: each single embedding is split into 4 equal chunks, each chunk projected to a
64-d token (image and text token sets of 4). Text tokens attend over image tokens and
vice versa with softmax(QK^T/sqrt(d)) (positive pole) and softmax(-QK^T/sqrt(d))
(inverse pole); the four mean-pooled results, the pooled tokens and the context
(metadata + subcategory) feed an MLP regressor. Simplified: chunks of pooled embeddings
stand in for regions/words; regression instead of classification.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .fit import multimodal_build, run_neural
from .layers import Context, Regressor, mlp

N_CHUNKS, D = 4, 64


class Chunker(nn.Module):
    """[B, d] -> [B, N_CHUNKS, D]: zero-pad d to a multiple of N_CHUNKS, one linear map per chunk."""

    def __init__(self, d_in):
        super().__init__()
        self.size = math.ceil(d_in / N_CHUNKS)
        self.pad = self.size * N_CHUNKS - d_in
        self.w = nn.Parameter(torch.randn(N_CHUNKS, self.size, D) / math.sqrt(self.size))
        self.b = nn.Parameter(torch.zeros(N_CHUNKS, D))
        self.norm = nn.LayerNorm(D)

    def forward(self, x):
        x = nn.functional.pad(x, (0, self.pad)).view(len(x), N_CHUNKS, self.size)
        return self.norm(torch.einsum("bcs,csd->bcd", x, self.w) + self.b)


class BipolarAttention(nn.Module):
    def __init__(self):
        super().__init__()
        self.q, self.k, self.v = nn.Linear(D, D), nn.Linear(D, D), nn.Linear(D, D)

    def forward(self, a, b):
        """``a`` attends over ``b``; returns (positive, inverse) pooled summaries [B, D]."""
        s = self.q(a) @ self.k(b).transpose(1, 2) / math.sqrt(D)
        v = self.v(b)
        pos = torch.softmax(s, -1) @ v
        neg = torch.softmax(-s, -1) @ v
        return pos.mean(1), neg.mean(1)


class CBAN(Regressor):
    def __init__(self, d_img, d_txt, d_meta, n_cats, y_mean, y_std):
        super().__init__(y_mean, y_std)
        self.img_tok, self.txt_tok = Chunker(d_img), Chunker(d_txt)
        self.t2i, self.i2t = BipolarAttention(), BipolarAttention()
        self.ctx = Context(d_meta, n_cats, D)
        self.head = mlp(7 * D, 128, 1, 0.1)

    def forward(self, b):
        ti, tt = self.img_tok(b["img"]), self.txt_tok(b["txt"])
        p1, n1 = self.t2i(tt, ti)
        p2, n2 = self.i2t(ti, tt)
        h = torch.cat([p1, n1, p2, n2, ti.mean(1), tt.mean(1), torch.relu(self.ctx(b))], -1)
        return self.head(h).squeeze(-1)


def run(data, info, seed, cfg):
    return run_neural(data, info, seed, cfg, multimodal_build(CBAN))
