"""MMRA - Zhong, Lang, Zhang, Cheng, Zhang and Zhou (2024), "Predicting Micro-Video
Popularity via Multi-Modal Retrieval Augmentation", SIGIR.

Original: retrieve similar items from a memory bank with frozen multimodal encoders,
then let the query attend over the retrieved items' multimodal features and popularity
labels (cross-modal attention) to augment the prediction.
Here: two FIXED cosine retrievers (faiss, exact) over the frozen image and the frozen text
embeddings, K=8 train neighbours each (never the query itself). The query representation
(MLP of [img; txt; context]) attends (scaled dot product, d=64) over the 16 neighbours,
whose keys are their projected content code (the fixed train-PCA, 64 components, of
standardised [img; txt]) plus a retrieval-source embedding and cosine similarity, and
whose values carry the projected code and standardised label; the attention-weighted
neighbour label, the attended value and the query go to an MLP regressor. Simplified: one
attention step, frozen encoders, no video/audio.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from .fit import run_neural
from .inputs import SPLITS, n_cats_of
from .layers import mlp
from .retriever import RetrievalRegressor, retrieve_all, with_neighbours

K, D, N_CODE = 8, 64, 64


class MMRA(RetrievalRegressor):
    def __init__(self, train, d_meta, n_cats, y_mean, y_std):
        super().__init__(train, d_meta, n_cats, y_mean, y_std, D, N_CODE)
        self.key_src = nn.Embedding(2, D)
        self.key_sim = nn.Linear(1, D)
        self.wk, self.wv = nn.Linear(D, D), nn.Linear(D + 1, D)
        self.head = mlp(2 * D + 1, 128, 1, 0.1)

    def forward(self, b):
        nbr, k_half = b["nbr"], b["nbr"].shape[1] // 2
        q = self.query_of(b)
        f = self.neighbour_codes(nbr)
        src = torch.zeros_like(nbr)
        src[:, k_half:] = 1                                   # 0 = image retriever, 1 = text
        keys = self.wk(f + self.key_src(src) + self.key_sim(b["nbr_sim"].unsqueeze(-1)))
        y_n = self.bank.y[nbr]
        att = torch.softmax((keys @ q.unsqueeze(-1)).squeeze(-1) / math.sqrt(D), -1)
        vals = self.wv(torch.cat([f, y_n.unsqueeze(-1)], -1))
        agg_v = (att.unsqueeze(-1) * vals).sum(1)
        agg_y = (att * y_n).sum(1, keepdim=True)
        return self.head(torch.cat([q, agg_v, agg_y], -1)).squeeze(-1)


def prepare(d: dict, raw: dict, k: int = K) -> dict:
    ii, si = retrieve_all(raw["train"]["img"], {s: raw[s]["img"] for s in SPLITS}, k)
    it, st = retrieve_all(raw["train"]["txt"], {s: raw[s]["txt"] for s in SPLITS}, k)
    ids = {s: np.concatenate([ii[s], it[s]], 1) for s in SPLITS}
    sims = {s: np.concatenate([si[s], st[s]], 1) for s in SPLITS}
    return with_neighbours(d, ids, sims)


def run(data, info, seed, cfg):
    def build(d, i, m, s):
        return MMRA(d["train"], d["train"]["meta"].shape[1], n_cats_of(d, i), m, s)
    return run_neural(data, info, seed, cfg, build, prepare)
