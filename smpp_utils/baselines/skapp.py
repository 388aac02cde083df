"""SKAPP - Xu, Zhang, Zhou and Song (2025), "Improving Multimodal Social Media Popularity
Prediction via Selective Retrieval Knowledge Augmentation", AAAI.

Original: a meta retriever finds posts that are similar not only in content but in
metadata (same user, user profile, category, posting time), then a selective module
keeps the retrieved knowledge that helps the prediction and fuses it with the query.
Here: a FIXED meta retriever. Candidates per query = the semantic shortlist (faiss,
cosine over [img; txt] unit vectors, top S=50) plus up to S posts of the same user
(ranked by semantic similarity); each candidate is scored
    sem + 0.5 [same user] + 0.2 [same subcategory] + 0.2 cos(meta_q, meta_c)
(``meta`` holds the standardised user/time/geo/length features) and the top K=10 are
kept; a train query never retrieves itself. Selection: a learned gate per neighbour,
sigmoid(MLP([q, n, q*n, retrieval features, label])) where n is the neighbour's projected
content code (fixed train-PCA, 64 components, of standardised [img; txt]), trained with
the predictor (plus a small L1 push towards sparse gates); the gate-weighted neighbour
values and labels and the query feed an MLP regressor. Simplified: fixed score weights
instead of SKAPP's learned meta retriever; no user-profile text.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ..core.knn import l2_normalise
from .fit import run_neural
from .inputs import SPLITS, NotRun, _np, n_cats_of
from .layers import mlp
from .retriever import CosineRetriever, RetrievalRegressor, with_neighbours

K, S, D, N_CODE = 10, 50, 64, 64
W_USER, W_CAT, W_META = 0.5, 0.2, 0.2
W_SPARSE = 1e-3
N_RFEAT = 5            # retrieval features per neighbour: sem, meta cos, same user, same cat, score


def _semantic(split: dict) -> np.ndarray:
    return l2_normalise(np.concatenate([l2_normalise(_np(split["img"])), l2_normalise(_np(split["txt"]))], 1))


def _same_user_candidates(sem_q, user_q, sem_b, user_b, s, exclude_self):
    """Up to ``s`` train posts of the query's user, by semantic similarity; -1 pads."""
    n = len(sem_q)
    ids, sims = np.full((n, s), -1, np.int64), np.full((n, s), -np.inf, np.float32)
    bank_rows = {}
    order = np.argsort(user_b, kind="stable")
    ub = user_b[order]
    starts = np.searchsorted(ub, np.unique(ub))
    for u, a, b in zip(np.unique(ub), starts, np.r_[starts[1:], len(ub)]):
        bank_rows[u] = order[a:b]
    for u in np.unique(user_q):
        if u == 0 or u not in bank_rows:
            continue
        q_rows, b_rows = np.nonzero(user_q == u)[0], bank_rows[u]
        sm = sem_q[q_rows] @ sem_b[b_rows].T
        if exclude_self:
            sm[q_rows[:, None] == b_rows[None, :]] = -np.inf
        take = min(s, len(b_rows))
        top = np.argsort(-sm, axis=1, kind="stable")[:, :take]
        ids[q_rows, :take] = b_rows[top]
        sims[q_rows, :take] = np.take_along_axis(sm, top, 1)
    ids[~np.isfinite(sims)] = -1
    return ids, sims


def _meta_unit(d: dict, n: int) -> np.ndarray:
    """Unit-norm metadata for the meta-cosine term, from ``meta_ctx`` (the label-derived user
    mean blanked, data.inputs.context_meta) when present: a train candidate's out-of-fold user
    mean can hold the query's own label when they share a user (second-order leak)."""
    m = d.get("meta_ctx", d["meta"])
    return l2_normalise(_np(m)) if m.shape[1] else np.zeros((n, 0), np.float32)


def meta_retrieve(raw: dict, k: int = K, s: int = S) -> tuple[dict, dict]:
    """Neighbour ids [n, k] and retrieval features [n, k, N_RFEAT] for every split."""
    tr = raw["train"]
    sem_b, user_b, cat_b = _semantic(tr), _np(tr["user"]).astype(np.int64), _np(tr["cat"]).astype(np.int64)
    meta_b = _meta_unit(tr, len(sem_b))
    retr = CosineRetriever(sem_b)
    n_b = len(sem_b)
    if n_b <= k:
        raise NotRun(f"retrieval bank of {n_b} posts is too small for k={k}")
    ids_out, feat_out = {}, {}
    for split in SPLITS:
        q = raw[split]
        sem_q, user_q, cat_q = _semantic(q), _np(q["user"]).astype(np.int64), _np(q["cat"]).astype(np.int64)
        meta_q = _meta_unit(q, len(sem_q))
        is_train = split == "train"
        self_ids = np.arange(len(sem_q)) if is_train else None
        ids_s, sims_s = retr.search(sem_q, min(s, n_b - 1), self_ids)
        ids_u, sims_u = _same_user_candidates(sem_q, user_q, sem_b, user_b, s, is_train)
        cand = np.concatenate([ids_s, ids_u], 1)
        sem = np.concatenate([sims_s, sims_u], 1)
        valid = cand >= 0
        c = np.where(valid, cand, 0)
        same_u = ((user_b[c] == user_q[:, None]) & (user_q[:, None] > 0)).astype(np.float32)
        same_c = (cat_b[c] == cat_q[:, None]).astype(np.float32)
        meta_cos = np.einsum("nd,nkd->nk", meta_q, meta_b[c]) if meta_b.shape[1] else np.zeros_like(sem)
        score = sem + W_USER * same_u + W_CAT * same_c + W_META * meta_cos
        score = np.where(valid, score, -np.inf)
        # a post found by both candidate lists counts once
        o = np.argsort(c, axis=1, kind="stable")
        cs = np.take_along_axis(c, o, 1)
        dup = np.zeros_like(valid)
        dup_sorted = np.zeros_like(cs, dtype=bool)
        dup_sorted[:, 1:] = cs[:, 1:] == cs[:, :-1]
        np.put_along_axis(dup, o, dup_sorted, 1)
        # keep the copy with the higher score: both copies score the same, so drop later ones
        score = np.where(dup, -np.inf, score)
        top = np.argsort(-score, axis=1, kind="stable")[:, :k]
        ids = np.take_along_axis(c, top, 1)
        feats = np.stack([np.take_along_axis(a, top, 1) for a in (sem, meta_cos, same_u, same_c, score)], -1)
        if is_train and (ids == np.arange(len(ids))[:, None]).any():
            raise AssertionError("meta retriever returned a train query itself")
        ids_out[split], feat_out[split] = ids, np.nan_to_num(feats.astype(np.float32), neginf=0.0)
    return ids_out, feat_out


class SKAPP(RetrievalRegressor):
    def __init__(self, train, d_meta, n_cats, y_mean, y_std):
        super().__init__(train, d_meta, n_cats, y_mean, y_std, D, N_CODE)
        self.gate = mlp(3 * D + N_RFEAT + 1, 64, 1, 0.0)
        self.value = nn.Linear(D + 1 + N_RFEAT, D)
        self.head = mlp(2 * D + 1, 128, 1, 0.1)

    def forward(self, b):
        nbr, rf = b["nbr"], b["nbr_sim"]
        q = self.query_of(b)
        n = self.neighbour_codes(nbr)
        y_n = self.bank.y[nbr].unsqueeze(-1)
        qe = q.unsqueeze(1).expand_as(n)
        g = torch.sigmoid(self.gate(torch.cat([qe, n, qe * n, rf, y_n], -1))).squeeze(-1)   # selection
        w = g / (g.sum(1, keepdim=True) + 1e-6)
        know = (w.unsqueeze(-1) * self.value(torch.cat([n, y_n, rf], -1))).sum(1)
        y_sel = (w * y_n.squeeze(-1)).sum(1, keepdim=True)
        if self.training:
            self._aux = W_SPARSE * g.mean()
        return self.head(torch.cat([q, know, y_sel], -1)).squeeze(-1)


def prepare(d: dict, raw: dict) -> dict:
    ids, feats = meta_retrieve(raw)
    return with_neighbours(d, ids, feats)


def run(data, info, seed, cfg):
    def build(d, i, m, s):
        return SKAPP(d["train"], d["train"]["meta"].shape[1], n_cats_of(d, i), m, s)
    return run_neural(data, info, seed, cfg, build, prepare,
                      need=("img", "txt", "meta", "y", "cat", "user"))
