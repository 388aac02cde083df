"""Exact Mixture-of-Logits top-k over a large bank (JRPP Eq. 2 with the MoL score of Eq. 5),
with a per-query certificate.

Candidates, then exact rerank (the two-stage scheme of Ding & Zhai 2025, "Retrieval with
Learned Similarities", Sec. 4), with a shortlist that is longer than today's and adaptive:

1. candidates C = the top ``K`` bank posts by the uniform-gate proxy mean_m cos_m (the
   ``concat`` shortlist vectors [f_1..f_M]/sqrt(M), one faiss index), and, with
   ``per_component=True``, the union with the top ``K`` of every component m by cos_m (one
   faiss index of width mol_dim per component, the per-component union of Ding & Zhai);
2. the full gated MoL (Eq. 5) on C, exactly; top k of C;
3. a certificate; queries that are not certified are searched again with ``K`` doubled, up
   to ``max_k``. When ``K`` reaches the bank size C is the whole bank (exact by construction).

Certificate. The gates satisfy w_m in [0, 1] (sigmoid, Eq. 5), so w_m cos_m <= max(cos_m, 0)
for every pair. A post outside C has mean_m cos_m <= t (the K-th proxy score) and, with the
per-component lists, cos_m <= t_m (the K-th cosine of component m). Its score is therefore at
most the value of the small LP

    U = max sum_m max(c_m, 0)  s.t.  -1 <= c_m <= t_m,  sum_m c_m <= M t,

which is max_j min(sum of the j largest max(t_m, 0), M t + M - j) (the j positive
components at their caps, the others at -1; t_m = 1 without per-component lists). If the
k-th exact score in C is >= U, the top k of C is the MoL top k of the whole bank (up to exact
ties): ``certified``. The bound only uses w_m <= 1, so it certifies when the top scores are
close to their ceiling (peaked, trained similarities) or when C covers most of the bank; on
an untrained model with gates near 1/2 it does not certify at practical K, and the measured
recall against brute force is the number to read (``benchmarks/bench_jrpp.py``:
``exact_topk_recall_vs_brute``, ``exact_topk_certified_frac``).

Cost per query: one scan of the bank by a flat index M*mol_dim wide (plus M scans mol_dim wide
with ``per_component``), no gate MLP, plus the gated MoL over |C| <= (M+1) K posts, against
brute force's gate MLP over all N posts. With an approximate index (``kind="ivf"``/``"hnsw"``)
the thresholds are not true thresholds, so ``certified`` is False unless C is the whole bank.

GPU note: faiss GPU indexes return at most 2048 neighbours per query, so ``max_k`` is capped
at 2048 when the indexes live on a GPU.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..core.knn import build_index, check_k, search


@dataclass
class MoLTopK:
    """Result of :func:`mol_topk` for B queries."""
    ids: np.ndarray           # [B, k] int64 bank positions, best first
    scores: torch.Tensor      # [B, k] exact MoL scores (Eq. 5), no grad
    certified: np.ndarray     # [B] bool: k-th score >= bound on every post outside C
    bound: np.ndarray         # [B] f32: U(c), upper bound on the score of any post outside C
    n_candidates: np.ndarray  # [B] int: |C| (distinct, self excluded) that were rescored
    k0: np.ndarray            # [B] int: shortlist length K used for the query (per list)


class ComponentIndex:
    """faiss inner-product indexes over the bank's MoL components rc [N, M, D]
    (L2-normalised g_m(x_r), ``MixtureOfLogits.item_components``): the concat proxy index
    and, with ``per_component``, one index per component. ``kind``: flat (exact,
    certifiable) | ivf | hnsw (see :func:`smpp_utils.core.knn.build_index`)."""

    def __init__(self, rc: torch.Tensor | np.ndarray, kind: str = "flat", per_component: bool = False,
                 **index_kw):
        rc = rc.detach().float().cpu().numpy() if torch.is_tensor(rc) else np.asarray(rc, np.float32)
        if rc.ndim != 3:
            raise ValueError(f"bank components must be [N, M, D], got shape {rc.shape}")
        self.size, self.n_comp, self.dim = rc.shape
        self.kind = "flat" if kind == "auto" else kind
        self.concat = build_index(_concat(rc), self.kind, **index_kw)
        self.per_comp = ([build_index(rc[:, m, :], self.kind, **index_kw) for m in range(self.n_comp)]
                         if per_component else [])
        self.on_gpu = any("Gpu" in type(ix).__name__ for ix in [self.concat, *self.per_comp])

    @property
    def exact(self) -> bool:
        return self.kind == "flat"

    def search(self, qc: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """qc [B, M, D] -> (candidate ids [B, (1 + M') k], proxy threshold t [B], per-component
        thresholds t_m [B, M] (1 where there is no per-component list))."""
        if qc.shape[1] != self.n_comp or qc.shape[2] != self.dim:
            raise ValueError(f"query components {qc.shape[1:]} do not match the bank's "
                             f"({self.n_comp}, {self.dim})")
        sc, ids = search(self.concat, _concat(qc), k)
        out, tm = [ids], np.ones((len(qc), self.n_comp), np.float32)
        for m, ix in enumerate(self.per_comp):
            cm, im = search(ix, qc[:, m, :], k)
            out.append(im)
            tm[:, m] = cm[:, -1]
        return np.concatenate(out, 1), sc[:, -1], tm


def _concat(comp: np.ndarray) -> np.ndarray:
    """[..., M, D] -> [..., M*D] / sqrt(M): <q, r> = mean_m cos_m (= ``shortlist_vectors``)."""
    return np.ascontiguousarray(comp.reshape(*comp.shape[:-2], -1) / np.sqrt(comp.shape[-2]),
                                dtype=np.float32)


def outside_bound(t: np.ndarray, tm: np.ndarray) -> np.ndarray:
    """Upper bound U [B] on the MoL score (Eq. 5, gates in [0, 1]) of any post with
    mean_m cos_m <= t [B] and cos_m <= t_m [B, M]: the LP of the module docstring."""
    n_comp = tm.shape[1]
    pos = np.clip(-np.sort(-np.minimum(tm, 1.0), axis=1), 0, None)     # caps, largest first
    j = np.arange(n_comp + 1)
    best = np.minimum(np.concatenate([np.zeros((len(tm), 1)), np.cumsum(pos, 1)], 1),
                      n_comp * np.asarray(t).reshape(-1, 1) + n_comp - j)
    return np.clip(best, 0, None).max(1).astype(np.float32)


def _rescore(mol, qc, qs, rc, rs, cand: torch.Tensor, exclude: torch.Tensor | None,
             chunk: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Exact MoL scores of the candidate lists cand [B, C] (-inf for repeats, the query itself
    and unfilled slots)."""
    srt = cand.sort(dim=1).values
    bad = torch.zeros_like(srt, dtype=torch.bool)
    bad[:, 1:] = srt[:, 1:] == srt[:, :-1]                    # repeats across components
    bad |= srt < 0                                            # slots an index could not fill
    if exclude is not None:
        bad |= srt == exclude.view(-1, 1)                     # a query never retrieves itself
    safe = srt.clamp_min(0)
    out = torch.empty(srt.shape, dtype=torch.float32)
    for s in range(0, len(srt), chunk):
        e = s + chunk
        sc, _, _ = mol.score(qc[s:e], qs[s:e], rc[safe[s:e]], rs[safe[s:e]])   # Eq. 5
        out[s:e] = sc.float()
    out.masked_fill_(bad, -torch.inf)
    return out, srt


@torch.no_grad()
def mol_topk(mol, qc: torch.Tensor, qs: torch.Tensor, rc: torch.Tensor, rs: torch.Tensor,
             index: ComponentIndex, k: int, exclude=None, k0: int = 512,
             max_k: int | None = None, chunk: int = 16) -> MoLTopK:
    """Exact MoL top-``k`` of each query over the bank (see the module docstring).

    mol: the :class:`~smpp_utils.jrpp.mol.MixtureOfLogits`; qc [B, M, D] query components,
    qs [B, H] query summaries; rc [N, M, D], rs [N, H] the bank's components and summaries
    (the same weights that built ``index``); ``exclude`` [B] the query's own bank position
    (-1 = not in the bank); ``k0`` the first shortlist length K (per list); ``max_k``
    (default ``k0``) the largest K tried for queries that are not yet certified.
    """
    n = index.size
    if rc.shape[0] != n or rs.shape[0] != n:
        raise ValueError(f"bank tensors hold {rc.shape[0]}/{rs.shape[0]} rows, the index {n}")
    excl = None
    if exclude is not None:
        excl = torch.as_tensor(np.asarray(exclude), dtype=torch.int64).view(-1)
        if len(excl) != len(qc):
            raise ValueError(f"exclude has {len(excl)} entries for {len(qc)} queries")
    check_k(k, n, excl is not None and bool((excl >= 0).any()), "k")
    max_k = max(k0, max_k or k0)
    if index.on_gpu:
        max_k = min(max_k, 2048)
    kk = min(max(k0, k + 1), n)
    qcn = qc.detach().float().cpu().numpy()
    b_all = len(qc)
    ids = np.zeros((b_all, k), np.int64)
    scores = torch.zeros(b_all, k)
    cert = np.zeros(b_all, bool)
    bound = np.zeros(b_all, np.float32)
    ncand = np.zeros(b_all, np.int64)
    kused = np.zeros(b_all, np.int64)
    todo = np.arange(b_all)
    while len(todo):
        cid, t, tm = index.search(qcn[todo], kk)
        cand = torch.from_numpy(cid)
        ex = excl[todo] if excl is not None else None
        s, srt = _rescore(mol, qc[todo], qs[todo], rc, rs, cand, ex, chunk)
        top = s.topk(k, dim=1)
        u = outside_bound(t, tm)                                     # w_m <= 1 (Eq. 5)
        full = kk >= n                                               # C is the whole bank
        ok = (top.values[:, -1].numpy() >= u) & index.exact | full
        done = ok | (kk >= max_k)
        sel = todo[done]
        ids[sel] = srt.gather(1, top.indices)[done].numpy()
        scores[sel] = top.values[done]
        cert[sel], bound[sel], kused[sel] = ok[done], u[done], kk
        ncand[sel] = torch.isfinite(s[done]).sum(1).numpy()
        todo = todo[~done]
        kk = min(2 * kk, max_k, n)
    return MoLTopK(ids, scores, cert, bound, ncand, kused)


@torch.no_grad()
def brute_topk(mol, qc, qs, rc, rs, k: int, exclude=None) -> tuple[np.ndarray, torch.Tensor]:
    """Reference: the gated MoL over the whole bank (``MixtureOfLogits.score_bank``), top k."""
    s = mol.score_bank(qc, qs, rc, rs)
    if exclude is not None:
        ex = torch.as_tensor(np.asarray(exclude), dtype=torch.int64).view(-1)
        rows = (ex >= 0).nonzero().view(-1)
        s[rows, ex[rows]] = -torch.inf
    top = s.topk(k, dim=1)
    return top.indices.numpy(), top.values
