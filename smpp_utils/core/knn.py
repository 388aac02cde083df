"""The one nearest-neighbour index of the study: faiss inner-product search (exact flat, or
approximate IVF / HNSW for large banks), on the GPU when faiss sees one.

Several GPUs: the index is SHARDED across them by default (``GpuMultipleClonerOptions.shard``:
each GPU holds 1/G of the bank, a search queries every shard and merges the top-k), so a bank
that does not fit one GPU's memory still fits G of them; ``gpu_shard=False`` replicates the
whole bank on every GPU instead (more query throughput, no memory relief). On the GPU the
``auto`` kind stays exact (flat) at every bank size: a flat GPU search over a 1M bank is a
matrix product, while an IVF re-index costs minutes of k-means (bench_scale.json, CPU).

Used by JRPP's retrieval (:mod:`smpp_utils.jrpp.retrieval`: shortlist vectors of the MoL) and
by the fixed cosine retrievers of the retrieval baselines (:class:`CosineRetriever`).

Determinism: faiss parallelises search and IVF training with OpenMP; the number of threads is
fixed (``$SMPP_THREADS``, default 2, the same count ``core.device`` uses for torch) before
every build/search, and IVF k-means is seeded, so CPU results do not depend on the machine's
core count.
"""

from __future__ import annotations

import contextlib
import os

import numpy as np

try:
    import faiss
except ImportError:  # pragma: no cover - faiss-cpu is pinned in requirements.lock
    faiss = None


def _faiss():
    if faiss is None:
        raise ImportError("faiss is required for nearest-neighbour retrieval (pip install faiss-cpu)")
    return faiss


@contextlib.contextmanager
def fixed_threads():
    """Run faiss with its OpenMP pool pinned to ``$SMPP_THREADS`` (default 2) threads, then
    restore the previous count (the pool is process-wide and shared with torch)."""
    fa = _faiss()
    old = fa.omp_get_max_threads()
    fa.omp_set_num_threads(max(1, int(os.environ.get("SMPP_THREADS", "2"))))
    try:
        yield
    finally:
        fa.omp_set_num_threads(old)


def check_bank(emb, what: str = "retrieval bank") -> np.ndarray:
    emb = np.ascontiguousarray(emb, dtype=np.float32)
    if emb.ndim != 2 or emb.shape[0] == 0:
        raise ValueError(f"{what} is empty (shape {emb.shape}): the train split has no posts "
                         "to retrieve from")
    bad = ~np.isfinite(emb).all(axis=1)
    if bad.any():
        raise ValueError(f"{what}: NaN/inf in the embeddings of {int(bad.sum())} bank rows, "
                         f"first at bank position {int(np.argmax(bad))}")
    return emb


def check_k(k: int, bank_size: int, exclude_self: bool, what: str = "k") -> None:
    avail = bank_size - int(exclude_self)
    if k > avail:
        raise ValueError(f"{what}={k} items requested but the bank holds {bank_size} posts "
                         f"({avail} retrievable when a query must not retrieve itself)")
    if k < 1:
        raise ValueError(f"{what} must be >= 1, got {k}")


def l2_normalise(x) -> np.ndarray:
    x = np.ascontiguousarray(x, dtype=np.float32)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def to_gpus(index, n_gpus: int, shard: bool = True):
    """``index`` moved to the first ``n_gpus`` GPUs: sharded (the bank split across them) or
    replicated (a full copy on each). Call before ``add``: a sharded index distributes the
    rows as they are added."""
    fa = _faiss()
    co = fa.GpuMultipleClonerOptions()
    co.shard = bool(shard) and n_gpus > 1
    return fa.index_cpu_to_all_gpus(index, co=co, ngpu=int(n_gpus))


def build_index(emb, kind: str = "auto", approx_threshold: int = 200_000,
                nlist: int | None = None, nprobe: int | None = None, hnsw_m: int = 32,
                ef_search: int = 128, use_gpu: bool | None = None, seed: int = 0,
                gpu_shard: bool = True):
    """A faiss inner-product index over ``emb`` [N, d]. ``kind``: flat | ivf | hnsw | auto
    (on CPU flat up to ``approx_threshold`` rows, ivf above; on GPU always flat). IVF k-means
    is seeded by ``seed``. On several GPUs the index is sharded (``gpu_shard``, module doc)."""
    fa = _faiss()
    emb = check_bank(emb)
    n, d = emb.shape
    n_gpus = fa.get_num_gpus() if use_gpu is None or use_gpu else 0
    if use_gpu and n_gpus == 0:
        raise RuntimeError("build_index: use_gpu=True, but faiss sees no GPU (a faiss-cpu build or "
                           "no CUDA device); pass use_gpu=None to use the GPU only where there is one")
    use_gpu = n_gpus > 0 if use_gpu is None else bool(use_gpu)
    if kind == "auto":
        kind = "flat" if use_gpu or n <= approx_threshold else "ivf"
    if kind == "flat":
        index = fa.IndexFlatIP(d)
    elif kind == "ivf":
        nlist = nlist or max(1, int(4 * np.sqrt(n)))
        quant = fa.IndexFlatIP(d)
        index = fa.IndexIVFFlat(quant, d, nlist, fa.METRIC_INNER_PRODUCT)
        rng = np.random.default_rng(seed)
        sample = emb[rng.choice(n, size=min(n, 64 * nlist), replace=False)]
        index.cp.seed = seed
        with fixed_threads():
            index.train(sample)
        index.nprobe = nprobe or max(1, nlist // 16)
    elif kind == "hnsw":
        index = fa.IndexHNSWFlat(d, hnsw_m, fa.METRIC_INNER_PRODUCT)
        index.hnsw.efSearch = ef_search
    else:
        raise ValueError(f"unknown index kind {kind!r}; expected flat | ivf | hnsw | auto")
    if use_gpu and kind != "hnsw":          # HNSW has no GPU implementation in faiss
        index = to_gpus(index, max(1, n_gpus), gpu_shard)
    with fixed_threads():
        index.add(emb)
    return index


def search(index, queries, k: int):
    """(scores [n, k] f32, ids [n, k] int64) of ``index.search`` under the fixed thread count."""
    with fixed_threads():
        scores, ids = index.search(np.ascontiguousarray(queries, dtype=np.float32), k)
    return scores, ids.astype(np.int64)


class CosineRetriever:
    """Fixed cosine retriever over a bank (exact inner product on L2-normalised vectors).

    ``search(q, k, self_ids)``: top-``k`` bank rows per query; where ``self_ids[i] >= 0`` that
    bank row (the query itself) is never returned. Returns (ids [n,k] int64, sims [n,k] f32).
    Raises ``ValueError`` on an empty embedding or a bank too small for ``k``.
    """

    def __init__(self, bank):
        self.bank = l2_normalise(bank)
        self.n, d = self.bank.shape
        if d == 0:
            raise ValueError("retrieval over an empty embedding (dimension 0)")
        self.index = build_index(self.bank, "flat")

    def search(self, queries, k: int, self_ids=None) -> tuple[np.ndarray, np.ndarray]:
        q = l2_normalise(queries)
        extra = 1 if self_ids is not None else 0
        k = int(min(k, self.n - extra))
        if k < 1:
            raise ValueError(f"retrieval bank of {self.n} posts is too small")
        sims, ids = search(self.index, q, k + extra)
        if self_ids is None:
            return ids, sims.astype(np.float32)
        keep = ids != np.asarray(self_ids).reshape(-1, 1)
        # drop the query itself where it was found, else the last (k+1-th) neighbour
        keep[~(~keep).any(1), -1] = False
        return ids[keep].reshape(len(q), k), sims[keep].reshape(len(q), k).astype(np.float32)
