"""Retrieval from the bank (= the train split) in two stages (JRPP Eq. 2 with the MoL
score of Eq. 5):

1. shortlist: the ``shortlist`` (K0) nearest bank posts by the inner product of the
   shortlist vectors (MoL components with uniform gates, see ``MixtureOfLogits.shortlist_vectors``)
   through a faiss index - exact ``IndexFlatIP`` (moved to every GPU by
   ``faiss.index_cpu_to_all_gpus`` when faiss sees one), or for large banks an approximate
   ``IndexIVFFlat`` / ``IndexHNSWFlat`` whose search cost grows sub-linearly with the bank;
2. rerank: the full, gated MoL score on the shortlist, top ``k`` (the model does this with
   gradients through the scores and the shortlisted candidates' embeddings).

A query never retrieves itself: train queries carry their bank position and it is masked.

Re-indexing trade-off. The bank embeddings depend on the encoder and MoL towers, which
change at every optimiser step. Re-encoding the bank and rebuilding the index at every
step would cost a forward pass over the whole bank per batch (N/B times the work of an
epoch's re-encode). Instead the bank is re-encoded every ``reindex_every`` epochs
(``JRPP.on_epoch_start``): within an epoch the *shortlist* comes from slightly stale
vectors, while the *rerank scores and candidate embeddings* are always recomputed with the
current weights (and carry the gradient). The cost is that a candidate the current MoL
would rank high but the stale index does not shortlist is missed until the next rebuild;
a shortlist K0 > k absorbs most of this drift. Evaluation (``JRPP.predict``) always uses
an index built from the current weights.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..core.knn import build_index, check_bank, check_k, search  # noqa: F401 (the one faiss wrapper)


def shortlist(index, queries: np.ndarray, k0: int, exclude: np.ndarray | None = None,
              bank_size: int | None = None) -> np.ndarray:
    """Top ``k0`` bank positions per query [B, k0] (best first). ``exclude`` [B]: the
    query's own bank position (-1 = not in the bank), never returned. Positions an
    approximate index could not fill (-1) are replaced by the row's best hit; callers mask
    duplicates with :func:`duplicate_mask`."""
    q = np.ascontiguousarray(queries, dtype=np.float32)
    if not np.isfinite(q).all():
        bad = int(np.argmax(~np.isfinite(q).all(axis=1)))
        raise ValueError(f"NaN/inf in the query embeddings (batch row {bad})")
    n = bank_size if bank_size is not None else index.ntotal
    excl = exclude is not None and (np.asarray(exclude) >= 0).any()
    check_k(k0, n, bool(excl), "shortlist")
    extra = 1 if excl else 0
    scores, ids = search(index, q, k0 + extra)
    if excl:
        own = ids == np.asarray(exclude).reshape(-1, 1)
        scores = np.where(own, -np.inf, scores)
        order = np.argsort(-scores, axis=1, kind="stable")[:, :k0]
        ids = np.take_along_axis(ids, order, axis=1)
    ids = ids[:, :k0]
    missing = ids < 0
    if missing.any():
        ids = np.where(missing, ids[:, :1], ids)
    return ids


def duplicate_mask(ids: torch.Tensor) -> torch.Tensor:
    """True where a position repeats an earlier one in its row (filled gaps)."""
    srt, order = ids.sort(dim=1, stable=True)
    dup_sorted = torch.zeros_like(srt, dtype=torch.bool)
    dup_sorted[:, 1:] = srt[:, 1:] == srt[:, :-1]
    return torch.zeros_like(dup_sorted).scatter(1, order, dup_sorted)


@dataclass
class BankState:
    """A built index and the parameter stamp of the weights that encoded the bank."""
    index: object
    stamp: float
    size: int
