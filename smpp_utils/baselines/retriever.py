"""Fixed retrieval of the retrieval baselines (NIPA, MMRA, SKAPP): a cosine nearest-neighbour
index over the train bank through the study's one faiss wrapper
(:class:`smpp_utils.core.knn.CosineRetriever`); a train query never retrieves itself. Also
the compact content codes attached to a neighbour and the neighbour columns of the splits."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from .inputs import SPLITS, NotRun, _np
from .layers import Bank, Context, Regressor, mlp


class CosineRetriever:
    """Fixed cosine retriever over a bank: :class:`smpp_utils.core.knn.CosineRetriever` with
    its input errors reported as ``NotRun`` (shown in Table 2)."""

    def __init__(self, bank):
        from ..core.knn import CosineRetriever as _Knn

        try:
            self._r = _Knn(_np(bank))
        except ValueError as e:
            raise NotRun(str(e)) from e
        self.bank, self.n, self.index = self._r.bank, self._r.n, self._r.index

    def search(self, queries, k: int, self_ids=None) -> tuple[np.ndarray, np.ndarray]:
        try:
            return self._r.search(_np(queries), k, self_ids)
        except ValueError as e:
            raise NotRun(str(e)) from e


def retrieve_all(bank, queries: dict, k: int) -> tuple[dict, dict]:
    """Neighbours in the train bank for each split; train queries exclude themselves."""
    r = CosineRetriever(bank)
    ids, sims = {}, {}
    for s in SPLITS:
        self_ids = np.arange(len(queries[s])) if s == "train" else None
        ids[s], sims[s] = r.search(queries[s], k, self_ids)
    return ids, sims


def bank_codes(d: dict, keys=("img",), k: int = 64) -> torch.Tensor:
    """Train-PCA (``k`` components, fixed random state) of the standardised ``keys`` of the
    train bank: the compact content code that retrieval baselines attach to a neighbour."""
    from sklearn.decomposition import PCA

    x = torch.cat([d["train"][key].float() for key in keys], 1).numpy()
    k = max(1, min(k, x.shape[1], len(x) - 1))
    z = PCA(k, svd_solver="randomized" if k < min(x.shape) else "full", random_state=0).fit_transform(x)
    return torch.from_numpy((z / max(float(z[:, 0].std()), 1e-6)).astype(np.float32))


def with_neighbours(data: dict, ids: dict, sims: dict, name: str = "nbr") -> dict:
    out = {s: dict(data[s]) for s in SPLITS}
    for s in SPLITS:
        out[s][name] = torch.from_numpy(ids[s])
        out[s][name + "_sim"] = torch.from_numpy(sims[s])
    return out


class RetrievalRegressor(Regressor):
    """Base of the retrieval baselines that attend over neighbour content (MMRA, SKAPP): the
    train ``bank`` (``n_code`` PCA codes of img+txt and the standardised labels), the post
    context, the query tower over [img, txt, context] and the neighbour-code projection, all
    of width ``d``. ``query_of(batch)`` -> [B, d]; ``neighbour_codes(nbr)`` -> [B, k, d]."""

    def __init__(self, train, d_meta, n_cats, y_mean, y_std, d: int, n_code: int):
        super().__init__(y_mean, y_std)
        self.bank = Bank(bank_codes({"train": train}, ("img", "txt"), n_code), train["y"], y_mean, y_std)
        d_in = train["img"].shape[1] + train["txt"].shape[1]
        self.ctx = Context(d_meta, n_cats, d)
        self.query = mlp(d_in + d, 128, d, 0.1)
        self.feat = nn.Linear(self.bank.code.shape[1], d)

    def query_of(self, b):
        return self.query(torch.cat([b["img"], b["txt"], torch.relu(self.ctx(b))], -1))

    def neighbour_codes(self, nbr):
        return self.feat(self.bank.code[nbr])
