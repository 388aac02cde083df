"""Pieces shared by the baselines of JRPP Table 2.

* feature helpers for the tree/kernel baselines (train-fitted standardisation and PCA),
* ``Regressor``: a torch base class that predicts on the label scale but trains on the
  standardised label (so every neural baseline starts at the train mean, whatever ``lr``),
* ``fit_predict``: the one shared trainer (``smpp_utils.core.trainer``) with seeded settings from
  the ``jrpp`` section of params.yaml,
* ``CosineRetriever``: a FIXED cosine nearest-neighbour index (faiss ``IndexFlatIP`` over
  L2-normalised vectors, GPU when faiss sees one) over the train bank; a train query never
  retrieves itself,
* ``make_synthetic``: inputs of the ``build_inputs`` shape with a known signal (tests and
  the timing script).
"""

from __future__ import annotations

import contextlib
import os
import time
from types import SimpleNamespace

import numpy as np
import torch
from torch import nn

from ..core.trainer import TrainConfig, Trainer, predict

SPLITS = ("train", "val", "test")


class NotRun(Exception):
    """A baseline that cannot run on these inputs; ``reason`` says why (shown in the table)."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


# ----------------------------------------------------------------------------- checks
def check_inputs(data: dict, need=("img", "txt", "meta", "y")) -> None:
    for s in SPLITS:
        if s not in data:
            raise KeyError(f"inputs have no {s!r} split (have {sorted(data)})")
        missing = [k for k in need if k not in data[s]]
        if missing:
            raise KeyError(f"split {s!r} lacks {missing}")
        n = {k: len(v) for k, v in data[s].items() if torch.is_tensor(v)}
        if len(set(n.values())) != 1:
            raise ValueError(f"split {s!r}: tensors of different lengths {n}")
    if len(data["train"]["y"]) < 2:
        raise NotRun("fewer than 2 train posts")


def cfg_get(cfg, name, default):
    return getattr(cfg, name, default) if cfg is not None else default


# ----------------------------------------------------------------------------- features
def _np(t) -> np.ndarray:
    return t.detach().cpu().numpy() if torch.is_tensor(t) else np.asarray(t)


def pca_blocks(data: dict, key: str, n_comp: int, seed: int) -> dict[str, np.ndarray]:
    """Standardise ``data[s][key]`` with train statistics and project on the train PCA."""
    from sklearn.decomposition import PCA
    from sklearn.preprocessing import StandardScaler

    x = {s: _np(data[s][key]).astype(np.float32) for s in SPLITS}
    d = x["train"].shape[1]
    if d == 0:
        return {s: np.zeros((len(x[s]), 0), np.float32) for s in SPLITS}
    k = max(1, min(n_comp, d, len(x["train"]) - 1))
    sc = StandardScaler().fit(x["train"])
    solver = "randomized" if k < d else "full"
    pca = PCA(k, svd_solver=solver, random_state=seed).fit(sc.transform(x["train"]))
    return {s: pca.transform(sc.transform(x[s])).astype(np.float32) for s in SPLITS}


def tag_counts(data: dict) -> dict[str, np.ndarray]:
    return {s: ((_np(data[s]["tags"]) > 0).sum(1).astype(np.float32) if "tags" in data[s]
                else np.zeros(len(data[s]["y"]), np.float32)) for s in SPLITS}


def standardised(data: dict, keys=("img", "txt")) -> dict:
    """Shallow copies of the splits with ``keys`` standardised by train mean/std."""
    out = {s: dict(data[s]) for s in SPLITS}
    for k in keys:
        x = data["train"][k].float()
        if x.shape[1] == 0:
            continue
        mu, sd = x.mean(0), x.std(0).clamp_min(1e-6)
        for s in SPLITS:
            out[s][k] = (data[s][k].float() - mu) / sd
    return out


# ----------------------------------------------------------------------------- torch pieces
def mlp(d_in: int, hidden: int, d_out: int, dropout: float = 0.1, layers: int = 2) -> nn.Sequential:
    """``layers`` linear maps with GELU + dropout between them."""
    mods, d = [], d_in
    for _ in range(layers - 1):
        mods += [nn.Linear(d, hidden), nn.GELU(), nn.Dropout(dropout)]
        d = hidden
    mods.append(nn.Linear(d, d_out))
    return nn.Sequential(*mods)


class Context(nn.Module):
    """Post context shared by the multimodal baselines: numeric metadata + subcategory embedding."""

    def __init__(self, d_meta: int, n_cats: int, d_out: int, d_cat: int = 8):
        super().__init__()
        self.cat = nn.Embedding(max(n_cats, 1), d_cat)
        self.proj = nn.Linear(d_meta + d_cat, d_out)

    def forward(self, batch):
        return self.proj(torch.cat([batch["meta"], self.cat(batch["cat"])], -1))


class Regressor(nn.Module):
    """Base of the neural baselines: ``forward(batch)`` returns the standardised prediction,
    ``extra_loss`` (optional) adds regularisers; ``predict`` is on the label scale."""

    def __init__(self, y_mean: float, y_std: float):
        super().__init__()
        self.register_buffer("y_mean", torch.tensor(float(y_mean)), persistent=False)
        self.register_buffer("y_std", torch.tensor(float(max(y_std, 1e-6))), persistent=False)
        self._aux = None

    def forward(self, batch):                      # pragma: no cover - abstract
        raise NotImplementedError

    def training_loss(self, batch):
        self._aux = None
        z = (batch["y"] - self.y_mean) / self.y_std
        out = self(batch)
        loss = torch.mean((out - z) ** 2)
        return loss + self._aux if self._aux is not None else loss

    def predict(self, batch):
        return self(batch) * self.y_std + self.y_mean


def label_stats(data: dict, info: dict | None = None) -> tuple[float, float]:
    y = data["train"]["y"].float()
    mean = float(info["label_mean"]) if info and "label_mean" in info else float(y.mean())
    return mean, float(y.std()) if len(y) > 1 else 1.0


def train_config(cfg, seed: int) -> TrainConfig:
    return TrainConfig(epochs=int(cfg_get(cfg, "epochs", 30)), lr=float(cfg_get(cfg, "lr", 1e-4)),
                       batch_size=int(cfg_get(cfg, "batch_size", 512)),
                       patience=int(cfg_get(cfg, "patience", 10)), seed=int(seed),
                       max_minutes=cfg_get(cfg, "max_minutes", None),
                       device=cfg_get(cfg, "device", None))


def fit_predict(model: Regressor, data: dict, cfg, seed: int) -> dict:
    """Train with the shared trainer (early stopping on val MSE) and predict val/test."""
    tc = train_config(cfg, seed)
    tr = Trainer(model, tc, ckpt_dir=None, progress=False)
    tr.fit(data["train"], data["val"], resume=False)
    return {s: predict(tr.model, data[s], tc.eval_batch_size, tr.device).astype(np.float64)
            for s in ("val", "test")}


def seeded(seed: int) -> None:
    """Seed the RNGs before a model is built (weight init is then reproducible)."""
    from ..core.device import seed_everything

    seed_everything(int(seed))


class Timer:
    """Wall time of a ``with`` block, run under ``cpu_threads`` (see there)."""

    def __enter__(self):
        self._limits = cpu_threads()
        self._limits.__enter__()
        self.t0 = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self.t0
        self._limits.__exit__(*exc)


@contextlib.contextmanager
def cpu_threads(n: int | None = None):
    """Limit torch, BLAS and OpenMP pools (faiss, LightGBM) to ``n`` threads inside the block
    (default ``$SMPP_BASELINE_THREADS`` or 1), restoring them afterwards. The baselines are small
    (batches of a few hundred rows, <= 512 wide): extra CPU threads gain little there, while
    oversubscribed OpenMP pools stall badly on a shared host (measured 20x on 2 busy cores).
    A fixed count also keeps CPU results identical across machines; CUDA work is unaffected."""
    from threadpoolctl import threadpool_limits

    n = int(n or os.environ.get("SMPP_BASELINE_THREADS", "1"))
    old = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        with threadpool_limits(n):
            yield
    finally:
        torch.set_num_threads(old)


# ----------------------------------------------------------------------------- retrieval
def _l2norm(x: np.ndarray) -> np.ndarray:
    x = np.ascontiguousarray(x, dtype=np.float32)
    n = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.maximum(n, 1e-12)


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


class Bank(nn.Module):
    """The train bank as non-persistent buffers (moved with the model, not checkpointed):
    ``code`` [n_train, k] content codes and ``y`` the standardised train labels."""

    def __init__(self, code: torch.Tensor, y: torch.Tensor, y_mean: float, y_std: float):
        super().__init__()
        self.register_buffer("code", code.float().clone(), persistent=False)
        self.register_buffer("y", ((y.float() - y_mean) / y_std).clone(), persistent=False)


def with_neighbours(data: dict, ids: dict, sims: dict, name: str = "nbr") -> dict:
    out = {s: dict(data[s]) for s in SPLITS}
    for s in SPLITS:
        out[s][name] = torch.from_numpy(ids[s])
        out[s][name + "_sim"] = torch.from_numpy(sims[s])
    return out


# ----------------------------------------------------------------------------- synthetic inputs
def make_synthetic(n_train: int = 600, n_val: int = 150, n_test: int = 150, di: int = 16,
                   dt: int = 24, dm: int = 6, n_users: int = 40, n_cats: int = 5,
                   n_tags: int = 30, max_tags: int = 8, noise: float = 0.3, seed: int = 0):
    """Inputs shaped like ``smpp_utils.data.inputs.build_inputs`` with a strong, learnable signal:
    y = 5 + 1.5*<img, w_i> + <txt, w_t> + 0.5*meta[:,0] + user effect + category effect + noise.
    Images of one category share a centre so neighbours carry label information."""
    g = np.random.default_rng(seed)
    n = n_train + n_val + n_test
    cat = g.integers(0, n_cats, n)
    centres = g.normal(0, 1, (n_cats, di))
    img = centres[cat] + 0.7 * g.normal(0, 1, (n, di))
    txt = g.normal(0, 1, (n, dt))
    txt[:, :di // 2] += 0.5 * img[:, :di // 2]
    meta = g.normal(0, 1, (n, dm))
    user = g.integers(1, n_users, n)
    wi, wt = g.normal(0, 1, di) / np.sqrt(di), g.normal(0, 1, dt) / np.sqrt(dt)
    ueff, ceff = g.normal(0, 0.5, n_users), g.normal(0, 0.8, n_cats)
    y = (5 + 1.5 * img @ wi + txt @ wt + (0.5 * meta[:, 0] if dm else 0) + ueff[user] + ceff[cat]
         + noise * g.normal(0, 1, n))
    ntag = g.integers(0, max_tags + 1, n)
    tags = np.zeros((n, max_tags), np.int64)
    for r in range(n):
        tags[r, :ntag[r]] = g.integers(1, n_tags, ntag[r])
    cuts = {"train": slice(0, n_train), "val": slice(n_train, n_train + n_val),
            "test": slice(n_train + n_val, n)}
    train_users = set(user[cuts["train"]])
    user = np.where(np.isin(user, list(train_users)), user, 0)
    data = {}
    for s, sl in cuts.items():
        m = sl.stop - sl.start
        data[s] = {"img": torch.tensor(img[sl], dtype=torch.float32),
                   "txt": torch.tensor(txt[sl], dtype=torch.float32),
                   "meta": torch.tensor(meta[sl], dtype=torch.float32),
                   "user": torch.tensor(user[sl]), "cat": torch.tensor(cat[sl]),
                   "tags": torch.tensor(tags[sl]), "y": torch.tensor(y[sl], dtype=torch.float32),
                   "idx": torch.arange(m)}
    info = {"fingerprint": f"synthetic-{seed}", "dims": {"img": di, "txt": dt, "meta": dm},
            "n_users": n_users, "n_tags": n_tags, "n_cats": n_cats,
            "label_mean": float(y[cuts["train"]].mean()),
            "pids": {s: np.arange(sl.start, sl.stop) for s, sl in cuts.items()}}
    return data, info


def default_cfg(**kw) -> SimpleNamespace:
    base = {"seed": 0, "lr": 1e-3, "batch_size": 128, "epochs": 20, "patience": 5, **kw}
    return SimpleNamespace(**base)


def run_neural(data: dict, info: dict, seed: int, cfg, build, prepare=None,
               need=("img", "txt", "meta", "y", "cat")) -> dict:
    """Shared ``run`` of the neural baselines: standardise the embeddings (train statistics),
    optionally ``prepare(std_data, raw_data) -> data`` (e.g. fixed retrieval on the raw
    frozen embeddings, neighbour ids added to the standardised splits), seed, ``build(data, info,
    y_mean, y_std) -> Regressor``, train with the shared trainer, predict val/test."""
    check_inputs(data, need)
    for k in ("img", "txt"):
        if k in need and data["train"][k].shape[1] == 0:
            raise NotRun(f"needs {k} features; the {k} embedding has dimension 0")
    with Timer() as t:
        d = standardised(data)
        if prepare is not None:
            d = prepare(d, data)
        seeded(seed)
        y_mean, y_std = label_stats(d, info)
        model = build(d, info, y_mean, y_std)
        out = fit_predict(model, d, cfg, seed)
    out["seconds"] = t.seconds
    return out


def n_cats_of(data: dict, info: dict | None) -> int:
    n = int(info.get("n_cats", 0)) if info else 0
    return max(n, 1 + max(int(data[s]["cat"].max()) for s in SPLITS if len(data[s]["cat"])))
