"""The regime sweep (notebook 09): the head-to-head's main rows on every named SMPD-Sim
regime, under both split schemes - the study's answer to "when does each paper's mechanism
help?" (issue 11; the regimes and the claim each mechanism makes testable: issue 10 and
``smpp_utils.data.sim.REGIMES``).

Per regime (``regimes.regimes``):

1. **Data.** A reduced SMPD-Sim dataset (``regimes.posts`` train posts, users = posts / 8 as
   in real SMPD, the profile's seed, so every regime shares the simulated world - taxonomy,
   styles, vocabularies - and differs only in its dynamics) is written to
   ``data/<profile>/regimes/<regime>/``, laid out exactly as a profile's data folder
   (``raw/``, ``posts.parquet``, ``splits.parquet``, ``emb/``). It is made by the data stage's
   own code: ``data.prepare.ensure_simulated`` + ``prepare`` (the SMPD reader and both split
   schemes) are called with the *dataset key* ``<profile>/regimes/<regime>`` in place of a
   profile name - those functions use the profile only to find ``paths.data_dir(profile)``,
   so no reader or split code is duplicated here.
2. **Frozen features.** Every post is embedded by stage 02's encoders, unchanged: the CLIP
   checkpoint ``models/<profile>/clip_pretrain.pt`` (``embed.encoders.create_clip`` +
   ``extract_clip``) and all-MiniLM-L6-v2 (``encode_texts_minilm``); nothing is fine-tuned on
   the regime's data. Embedding files carry the split fingerprint they are read with
   (``data.inputs.load_embedding`` checks it), so one copy per scheme is written,
   ``emb/<file>.<scheme>.npz``.
3. **Rows**, on the test posts of each scheme (``random`` = JRPP's 8:1:1 protocol over the
   train files, ``chrono`` = SMP-Challenge style, the later test files), all on the same
   inputs (``data.inputs.build_inputs``, the embeddings named by ``jrpp.image_emb`` /
   ``jrpp.text_emb``):

   * user mean label (out of fold on train, train mean of the user on val/test, the global
     train mean for a user never seen in train) - identity alone;
   * Ridge on the two frozen embeddings (alpha chosen on val from ``ridge_alphas``) - content
     alone, linear (issue 9's reference row);
   * LightGBM on the metadata + the two frozen embeddings (PCA per block fitted on train) -
     Paper A's regressor family on FROZEN features (no prototypes, no prompt fine-tuning:
     that part of Paper A is not re-run per regime);
   * kNN label mean: the mean train label of the ``knn_k`` nearest train posts by cosine on
     [image; text] (``core.knn.CosineRetriever``) - fixed retrieval;
   * time-aware kNN: of the ``knn_shortlist`` nearest by content, the ``knn_k`` nearest in
     post time - what topic trends should reward;
   * JRPP as shipped (``jrpp`` knobs, metadata and retrieved labels included) and
     JRPP (content + user id) (image + text embeddings and the user id only, no retrieved
     labels: issue 9's information-matched row), both through
     ``jrpp.experiment.train_jrpp`` / ``predict_splits`` with ``regimes.jrpp_epochs`` epochs;
   * the oracle: E[label | noise-free latent], the simulator's exact expectation
     (``data.sim.oracle_predictions`` on ``raw/sim_latent.csv``, which no model reads).

   Seeded rows (LightGBM, JRPP) run ``n_seeds`` seeds; the others are deterministic and are
   evaluated once (``seeds`` = 1, std 0).
4. **Significance per regime.** Each claim of ``CLAIMS`` ("A beats B") is tested on every
   (regime, split) by the head-to-head's paired bootstrap over the test posts
   (``analysis.significance.paired_bootstrap``: one-sided p, a seeded model's prediction is its
   seeds' matrix, ``n_boot`` resamples), for SRC and MSE; ``q_bh`` is the Benjamini-Hochberg
   adjusted p over all the tests of the table (``scipy.stats.false_discovery_control``), since
   a sweep of this size makes some raw p < 0.05 by chance.

Everything is seeded and runs single-process on CPU; the sweep is sized for the stage's
budget (README: <= 8 min on 2 cores at the default profile) by ``regimes.posts`` and
``regimes.jrpp_epochs``.
"""

from __future__ import annotations

import os
import time
from types import SimpleNamespace

import numpy as np
import pandas as pd
from matplotlib import pyplot as plt

from ..core import paths
from ..core.metrics import regression_metrics, summarize_seeds
from ..core.reports import mean_std_cell
from ..jrpp.experiment import MATCHED_OVERRIDES
from .significance import interval_cell

USER_MEAN = "User mean label (out of fold)"
RIDGE = "Ridge (frozen CLIP image + text embeddings)"
LGBM = "LightGBM (metadata + frozen CLIP features; Paper A regressor family)"
KNN = "kNN label mean (frozen embeddings)"
KNN_TIME = "kNN label mean, time-aware"
JRPP = "JRPP (as shipped)"
JRPP_CU = "JRPP (content + user id)"
ORACLE = "Oracle (E[label | latent], SMPD-Sim)"
MODELS = (USER_MEAN, RIDGE, LGBM, KNN, KNN_TIME, JRPP, JRPP_CU, ORACLE)
SEEDED = (LGBM, JRPP, JRPP_CU)

# JRPP rows: (use_metadata, JRPPConfig overrides); None = as the jrpp section says.
# The one place that says what "content + user id" means, so a change of JRPP's switches
# is adapted here only: the same switches as stage 04's matched row (jrpp.experiment).
JRPP_ROWS = {JRPP: (None, {}),
             JRPP_CU: (False, dict(MATCHED_OVERRIDES))}

METRICS = ("src", "mse", "mae")
SIG_METRICS = ("src", "mse")

# The claims tested per (regime, split): ("A beats B" in words, A, B), as head_to_head.claims. Both directions
# of the papers' head-to-head, then each mechanism's own test (issue 10's named regimes).
CLAIMS = (
    ("JRPP beats Paper A's regressor family", JRPP, LGBM),
    ("Paper A's regressor family beats JRPP", LGBM, JRPP),
    ("learned retrieval beats fixed retrieval", JRPP, KNN),
    ("information-matched JRPP beats ridge on its own inputs", JRPP_CU, RIDGE),
    ("time-aware retrieval beats time-blind", KNN_TIME, KNN),
    ("content beats identity", RIDGE, USER_MEAN),
    ("retrieval beats identity", KNN, USER_MEAN),
)


# ----------------------------------------------------------------------------- data
def dataset_key(profile: str, regime: str) -> str:
    """The key standing in for a profile name in the data stage's functions:
    ``paths.data_dir(key)`` is ``data/<profile>/regimes/<regime>``."""
    return f"{profile}/regimes/{regime}"


def regimes_dir(profile: str):
    return paths.data_dir(profile) / "regimes"


def data_config(profile: str, regime: str, cfg, val_frac: float, test_frac: float) -> SimpleNamespace:
    """The data stage's cfg for a reduced SMPD-Sim dataset of ``regime``."""
    from ..data.sim import SimConfig

    posts = int(cfg.posts)
    return SimpleNamespace(profile=dataset_key(profile, regime), seed=int(cfg.seed), source="sim",
                           smpd_root="", lenient=False, sim_regime=regime, sim_posts=posts,
                           sim_users=max(1, round(posts / SimConfig.posts_per_user)),
                           sim_image_size=int(cfg.image_size), sim_test_ratio=SimConfig.test_ratio,
                           val_frac=float(val_frac), test_frac=float(test_frac))


def prepare_regime(dcfg) -> dict:
    """Simulate (reused when the same config is on disk) and read the regime's dataset with
    the data stage's code; returns the reader/split report."""
    from ..data import prepare

    sim = prepare.ensure_simulated(dcfg)
    _, report = prepare.prepare(dcfg)
    return {"simulation": sim, "split_sizes": report["split_sizes"],
            "data_fingerprint": report["data_fingerprint"]}


# ----------------------------------------------------------------------------- embeddings
def frozen_encoders(profile: str, clip_model: str, device=None):
    """Stage 02's CLIP, loaded from the checkpoint that stage saved, in eval mode."""
    from ..embed import encoders

    ckpt = encoders.clip_checkpoint_path(profile)
    if not ckpt.is_file():
        raise FileNotFoundError(f"{ckpt}: missing - written by stage prototypes (02_prototypes)")
    return encoders.create_clip(clip_model, ckpt, device)


def clip_minilm_embedder(clip, batch_size: int):
    """``embed(posts, image_root) -> {file: {array: matrix}}`` with stage 02's file/array
    names (``clip:image``, ``clip:text``, ``minilm:text``)."""
    from ..embed import encoders

    model, preprocess, tokenizer = clip

    def embed(posts: pd.DataFrame, image_root) -> dict:
        img, txt, _ = encoders.extract_clip(model, posts, image_root, tokenizer, batch_size, 0,
                                            None, preprocess, progress=False)
        mini = encoders.encode_texts_minilm(encoders.post_texts(posts), batch_size=batch_size,
                                            progress=False)
        return {"clip": {"image": img, "text": txt}, "minilm": {"text": mini}}

    return embed


def scheme_spec(spec: str, scheme: str) -> str:
    """'clip:image' -> 'clip.random:image' (the per-scheme copy of the file)."""
    fname, array = spec.split(":", 1)
    return f"{fname}.{scheme}:{array}"


def write_embeddings(key: str, embed, schemes) -> None:
    """Embed every post of dataset ``key`` once; one file per (file, scheme), each carrying
    that scheme's split fingerprint."""
    from ..core.io import save_arrays
    from ..data.splits import load_posts
    from ..embed.encoders import image_root

    posts, _ = load_posts(key, "random", labelled_only=False)
    files = embed(posts, image_root(key))
    for scheme in schemes:
        _, fp = load_posts(key, scheme)
        for fname, arrays in files.items():
            save_arrays(paths.data_dir(key) / "emb" / f"{fname}.{scheme}.npz", posts["Pid"], arrays,
                        {"fingerprint": fp, "encoder": fname, "frozen": True})


# ----------------------------------------------------------------------------- rows
def user_mean_prediction(meta: pd.DataFrame, y_train_mean: float) -> np.ndarray:
    """The user's out-of-fold / train mean label; the global train mean for unseen users."""
    return meta["user_mean_label"].fillna(y_train_mean).to_numpy(dtype=float)


def ridge_prediction(x_tr, y_tr, x_va, y_va, x_te, alphas) -> tuple[np.ndarray, float]:
    """Ridge on the embeddings with alpha chosen by val MSE (first of equals)."""
    from sklearn.linear_model import Ridge

    best = None
    for a in alphas:
        m = Ridge(alpha=float(a)).fit(x_tr, y_tr)
        mse = float(np.mean((m.predict(x_va) - y_va) ** 2))
        if best is None or mse < best[0]:
            best = (mse, float(a), m)
    return best[2].predict(x_te), best[1]


def knn_prediction(bank, y_bank, queries, k: int, t_bank=None, t_query=None,
                   shortlist: int | None = None) -> np.ndarray:
    """Mean label of the ``k`` nearest bank posts by cosine; time-aware when ``t_bank`` /
    ``t_query`` are given: of the ``shortlist`` nearest by content, the ``k`` nearest in time."""
    from ..core.knn import CosineRetriever

    ret = CosineRetriever(bank)
    y_bank = np.asarray(y_bank, dtype=float)
    if t_bank is None:
        ids, _ = ret.search(queries, k)
        return y_bank[ids].mean(axis=1)
    ids, _ = ret.search(queries, max(k, int(shortlist or k)))
    dt = np.abs(np.asarray(t_bank, dtype=float)[ids] - np.asarray(t_query, dtype=float)[:, None])
    near = np.argsort(dt, axis=1, kind="stable")[:, :k]
    return y_bank[np.take_along_axis(ids, near, axis=1)].mean(axis=1)


def _content(d: dict) -> np.ndarray:
    """[image; text] of a split (both L2-normalised by the encoders)."""
    return np.concatenate([d["img"].numpy(), d["txt"].numpy()], axis=1)


def _seconds(series: pd.Series) -> np.ndarray:
    """Seconds since the earliest post (time zone aware or not)."""
    return (series - series.min()).dt.total_seconds().to_numpy(dtype=float)


def lgbm_matrix(posts: pd.DataFrame, meta: pd.DataFrame, data_full: dict, pca_dims: int):
    """Metadata + the two frozen embedding blocks (PCA fitted on train rows) per split."""
    from ..paper_a.boosting import feature_matrix

    order = {s: np.flatnonzero((posts["split"] == s).to_numpy()) for s in ("train", "val", "test")}
    n = len(posts)
    blocks = {}
    for name in ("img", "txt"):
        arr = np.zeros((n, data_full["train"][name].shape[1]), dtype=np.float32)
        for s, rows in order.items():
            arr[rows] = data_full[s][name].numpy()
        blocks[name] = arr
    X = feature_matrix(meta.reset_index(drop=True), blocks, pca_dims or None,
                       train_mask=(posts["split"] == "train").to_numpy())
    return {s: X.iloc[rows].reset_index(drop=True) for s, rows in order.items()}


def fit_jrpp_row(data: dict, info: dict, jcfg, seed: int, overrides: dict) -> np.ndarray:
    """Test predictions of one JRPP (test-time perturbation when ``tta_T`` > 0, as in 04)."""
    from ..jrpp import experiment as ex

    model, _ = ex.train_jrpp(data, info, jcfg, seed, None, False, **overrides)
    preds = ex.predict_splits(model, data, jcfg, seed, tta=int(jcfg.tta_T) > 0)
    return np.asarray(preds["test"]["y_pred_tta"], dtype=float)


def jrpp_config(jrpp_section, cfg) -> SimpleNamespace:
    """The jrpp stage's knobs with this sweep's ``jrpp_epochs`` / ``jrpp_batch_size``."""
    src = jrpp_section if isinstance(jrpp_section, dict) else vars(jrpp_section)
    return SimpleNamespace(**{**src, "epochs": int(cfg.jrpp_epochs),
                              "batch_size": int(cfg.jrpp_batch_size)})


def seeds_of(cfg) -> list[int]:
    return [int(cfg.seed) + i for i in range(int(cfg.n_seeds))]


def _cpu() -> float:
    """CPU seconds of this process and its finished children (the simulator's image workers)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


class Clock:
    """Wall-clock and CPU seconds per label (CPU time is what a loaded shared machine still
    measures faithfully; on free cores wall ~ CPU / threads at best)."""

    def __init__(self):
        self.wall: dict[str, float] = {}
        self.cpu: dict[str, float] = {}

    def __call__(self, label: str):
        import contextlib

        @contextlib.contextmanager
        def timed():
            w, c = time.perf_counter(), _cpu()
            try:
                yield
            finally:
                self.wall[label] = self.wall.get(label, 0.0) + time.perf_counter() - w
                self.cpu[label] = self.cpu.get(label, 0.0) + _cpu() - c
        return timed()

    def as_dict(self) -> dict:
        return {"wall_seconds": dict(self.wall), "cpu_seconds": dict(self.cpu)}


def evaluate_scheme(key: str, scheme: str, cfg, jcfg, oracle: pd.Series, models=MODELS,
                    clock: Clock | None = None, store: dict | None = None) -> list[dict]:
    """Per-seed test metrics of every row in ``models`` on dataset ``key``, split ``scheme``.
    ``store``, when given, receives the test labels (``"y"``) and each model's test
    predictions as a (seeds, n_test) matrix (``"preds"``), for :func:`significance_table`."""
    from ..data.features import metadata_features
    from ..data.inputs import build_inputs
    from ..data.splits import load_posts
    from ..jrpp.experiment import with_bank_pos
    from ..paper_a.boosting import fit_lgbm, predict

    clock = clock or Clock()
    folds = int(cfg.oof_folds)
    specs = (scheme_spec(jcfg.image_emb, scheme), scheme_spec(jcfg.text_emb, scheme))
    with clock("inputs"):
        posts, _ = load_posts(key, scheme)
        data, info = build_inputs(key, scheme, *specs, True, folds, 0)
        meta = metadata_features(posts, folds, 0)
    y = {s: data[s]["y"].numpy().astype(float) for s in data}
    test = (posts["split"] == "test").to_numpy()
    train = (posts["split"] == "train").to_numpy()
    x = {s: _content(data[s]) for s in data}
    seeds = seeds_of(cfg)
    preds: dict[str, list[np.ndarray]] = {}
    if USER_MEAN in models:
        preds[USER_MEAN] = [user_mean_prediction(meta[test], float(y["train"].mean()))]
    if RIDGE in models:
        alphas = [float(a) for a in str(cfg.ridge_alphas).split(",") if a.strip()]
        with clock(RIDGE):
            preds[RIDGE] = [ridge_prediction(x["train"], y["train"], x["val"], y["val"], x["test"], alphas)[0]]
    if KNN in models:
        with clock(KNN):
            preds[KNN] = [knn_prediction(x["train"], y["train"], x["test"], int(cfg.knn_k))]
    if KNN_TIME in models:
        t = _seconds(posts["postdate"])
        with clock(KNN_TIME):
            preds[KNN_TIME] = [knn_prediction(x["train"], y["train"], x["test"], int(cfg.knn_k),
                                              t[train], t[test], int(cfg.knn_shortlist))]
    if ORACLE in models:
        o = oracle.reindex(posts.loc[test, "Pid"].to_numpy())
        if o.isna().any():
            raise KeyError(f"{key}: oracle missing for {int(o.isna().sum())} test Pids")
        preds[ORACLE] = [o.to_numpy(dtype=float)]
    if LGBM in models:
        lcfg = SimpleNamespace(lgbm_estimators=int(cfg.lgbm_estimators), lgbm_lr=float(cfg.lgbm_lr),
                               lgbm_leaves=int(cfg.lgbm_leaves))
        with clock(LGBM):
            X = lgbm_matrix(posts, meta, data, int(cfg.pca_dims))
            preds[LGBM] = [predict(fit_lgbm(X["train"], y["train"], X["val"], y["val"], lcfg, s), X["test"])
                           for s in seeds]
    inputs = {True: (data, info)}
    for row, (use_meta, overrides) in JRPP_ROWS.items():
        if row not in models:
            continue
        use_meta = bool(jcfg.use_metadata) if use_meta is None else bool(use_meta)
        with clock(row):
            if use_meta not in inputs:
                inputs[use_meta] = build_inputs(key, scheme, *specs, use_meta, folds, 0)
            d, inf = inputs[use_meta]
            d = with_bank_pos(d)
            preds[row] = [fit_jrpp_row(d, inf, jcfg, s, overrides) for s in seeds]
    if store is not None:
        store["y"] = y["test"]
        store["preds"] = {m: np.stack(preds[m]) for m in models}
    rows = []
    for model in models:
        for i, p in enumerate(preds[model]):
            rows.append({"model": model, "seed": seeds[i] if model in SEEDED else None,
                         "n_test": int(test.sum()), **regression_metrics(y["test"], p)})
    return rows


def run_regime(profile: str, regime: str, cfg, jcfg, val_frac: float, test_frac: float, embed,
               schemes=("random", "chrono"), models=MODELS, clock: Clock | None = None,
               log=print, store: dict | None = None) -> tuple[list[dict], dict]:
    """Simulate, embed and evaluate one regime: (per-seed rows, split sizes and fingerprint).
    ``clock`` accumulates the time of each step and model (over regimes when shared);
    ``store[(regime, scheme)]`` receives each scheme's test labels and predictions."""
    clock = clock or Clock()
    w0 = time.perf_counter()
    dcfg = data_config(profile, regime, cfg, val_frac, test_frac)
    with clock("simulate + read"):
        info = prepare_regime(dcfg)
    with clock("embed"):
        write_embeddings(dcfg.profile, embed, schemes)
    from ..data.prepare import oracle_series

    oracle = oracle_series(dcfg)          # E[label | latent] per Pid; no model reads it
    rows = []
    for scheme in schemes:
        kept = store.setdefault((regime, scheme), {}) if store is not None else None
        for r in evaluate_scheme(dcfg.profile, scheme, cfg, jcfg, oracle, models, clock, kept):
            rows.append({"regime": regime, "split": scheme, **r})
    if log:
        log(f"{regime}: {time.perf_counter() - w0:.0f} s; split sizes {info['split_sizes']}")
    return rows, {"split_sizes": info["split_sizes"], "data_fingerprint": info["data_fingerprint"]}


# ----------------------------------------------------------------------------- tables
def summary_table(rows: list[dict]) -> pd.DataFrame:
    """One row per (regime, split, model), in sweep order: seeds, mean and std of each metric."""
    df = pd.DataFrame(rows)
    out = []
    for (regime, split, model), g in df.groupby(["regime", "split", "model"], sort=False):
        out.append({"regime": regime, "split": split, "model": model, "seeds": len(g),
                    **summarize_seeds(g.to_dict("records"), keys=METRICS)})
    return pd.DataFrame(out)


def display_table(table: pd.DataFrame, digits: int = 4) -> pd.DataFrame:
    """``summary_table`` with 'mean ± std' cells (the markdown version)."""
    out = table[["regime", "split", "model", "seeds"]].copy()
    for m in METRICS:
        out[m.upper()] = [mean_std_cell(a, b, digits) for a, b in zip(table[f"{m}_mean"], table[f"{m}_std"])]
    return out


def mechanism_checks(table: pd.DataFrame) -> dict:
    """Per regime and split, the SRC differences that the simulator's mechanisms are meant to
    make visible (issue 10): retrieval vs identity (sessions), content vs identity (content
    appeal, cold start), time-aware vs time-blind retrieval (trends), JRPP vs the ridge on
    its own inputs, and the best non-oracle row with its gap to the oracle."""
    src = table.set_index(["regime", "split", "model"])["src_mean"].sort_index()   # sorted: fast, warning-free .loc
    out = {}
    for (regime, split), g in table.groupby(["regime", "split"], sort=False):
        s = src.loc[(regime, split)]
        get = lambda m: float(s[m]) if m in s.index else float("nan")  # noqa: E731
        models = g[g["model"] != ORACLE].sort_values(["src_mean", "model"], ascending=[False, True])
        best = models.iloc[0] if len(models) else None
        out.setdefault(regime, {})[split] = {
            "knn_minus_user_mean": get(KNN) - get(USER_MEAN),
            "ridge_minus_user_mean": get(RIDGE) - get(USER_MEAN),
            "knn_time_minus_knn": get(KNN_TIME) - get(KNN),
            "jrpp_minus_user_mean": get(JRPP) - get(USER_MEAN),
            "jrpp_content_user_minus_ridge": get(JRPP_CU) - get(RIDGE),
            "lgbm_minus_jrpp": get(LGBM) - get(JRPP),
            "best_model": None if best is None else str(best["model"]),
            "best_minus_oracle": float("nan") if best is None else float(best["src_mean"]) - get(ORACLE),
        }
    return out


def caption(n_seeds: int, posts: int) -> str:
    return ("Regime sweep - simulated data (SMPD-Sim v2, one reduced dataset of "
            f"{posts} train posts per named regime), not real SMPD. Test metrics per split scheme "
            "(random = JRPP's 8:1:1 protocol; chrono = the later test files, SMP-Challenge style). "
            f"Seeded rows (LightGBM, JRPP) are mean ± std over {n_seeds} seed(s); the others are "
            "deterministic (seeds = 1). All rows read the frozen encoders of stage 02; the oracle "
            "is the simulator's exact E[label | latent].")


# ----------------------------------------------------------------------------- figure
def plot_src(table: pd.DataFrame, n_seeds: int):
    """Test SRC by regime, one bar per model, one panel per split, error bars = std over
    seeds; the value axis starts at 0 (or below, for a negative SRC)."""
    splits = list(dict.fromkeys(table["split"]))
    regimes = list(dict.fromkeys(table["regime"]))
    models = [m for m in MODELS if m in set(table["model"])]
    colors = plt.get_cmap("tab10")
    fig, axes = plt.subplots(len(splits), 1, figsize=(12, 3.6 * len(splits)), squeeze=False,
                             sharey=True)
    width = 0.8 / max(len(models), 1)
    x = np.arange(len(regimes))
    idx = table.set_index(["split", "regime", "model"])
    for ax, split in zip(axes[:, 0], splits):
        for j, model in enumerate(models):
            mean = [idx["src_mean"].get((split, r, model), np.nan) for r in regimes]
            std = [idx["src_std"].get((split, r, model), 0.0) for r in regimes]
            ax.bar(x - 0.4 + width * (j + 0.5), mean, width, yerr=std, capsize=2, label=model,
                   color="black" if model == ORACLE else colors(j), alpha=0.85)
        ax.set_xticks(x, regimes, fontsize=10)
        ax.set_ylabel("test SRC", fontsize=10)
        ax.set_title(f"{split} split", fontsize=11)
        lo = min(0.0, float(np.nanmin(table["src_mean"] - table["src_std"])))
        ax.set_ylim(lo, 1.0)
        ax.axhline(0, color="grey", lw=0.6)
        ax.tick_params(axis="y", labelsize=9)
    axes[0, 0].legend(fontsize=8, ncol=2, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.suptitle(f"SMPD-Sim regimes (simulated): test SRC by model, error bars = std over "
                 f"{n_seeds} seed(s) of the seeded rows", fontsize=12)
    fig.tight_layout()
    return fig


def save_pdf(fig, path) -> None:
    """The figure as PDF beside ``path`` without creation date / producer (byte-stable).
    (Call before ``core.reports.save_figure``, which closes the figure.)"""
    from pathlib import Path

    from ..core.io import atomic_path

    out = Path(path).with_suffix(".pdf")
    with atomic_path(out, suffix=".pdf") as tmp:
        fig.savefig(tmp, bbox_inches="tight",
                    metadata={"CreationDate": None, "Producer": None, "Creator": None})


# ----------------------------------------------------------------------------- the sweep
def run_sweep(profile: str, cfg, jrpp_section, data_section: dict, embed, log=print):
    """Every regime of ``cfg.regimes`` under every scheme of ``cfg.schemes``: (per-seed rows
    as a DataFrame, {regime: split sizes and fingerprint}, the Clock, {(regime, scheme):
    test labels and predictions} for :func:`significance_table`)."""
    jcfg = jrpp_config(jrpp_section, cfg)
    schemes = [s.strip() for s in str(cfg.schemes).split(",") if s.strip()]
    clock = Clock()
    rows, info, store = [], {}, {}
    for regime in [r.strip() for r in str(cfg.regimes).split(",") if r.strip()]:
        r, i = run_regime(profile, regime, cfg, jcfg, float(data_section["val_frac"]),
                          float(data_section["test_frac"]), embed, schemes, MODELS, clock, log, store)
        rows += r
        info[regime] = i
    return pd.DataFrame(rows), info, clock, store


def significance_table(store: dict, n_boot: int, seed: int, claims=CLAIMS,
                       metrics=SIG_METRICS) -> pd.DataFrame:
    """One row per (regime, split, claim, metric): the paired bootstrap of "A beats B" on that
    split's test posts (the same ``seed``, hence the same resamples, for every claim of a
    split), and ``q_bh``, the Benjamini-Hochberg adjusted p over every row. Claims whose
    models were not evaluated are skipped."""
    from scipy.stats import false_discovery_control

    from .significance import claim_rows

    out = []
    for (regime, split), kept in store.items():
        pairs = [c for c in claims if c[1] in kept["preds"] and c[2] in kept["preds"]]
        out += [{"regime": regime, "split": split, **r}
                for r in claim_rows(kept["y"], kept["preds"], pairs, metrics, n_boot=int(n_boot), seed=int(seed))]
    table = pd.DataFrame(out)
    if len(table):
        table = (table.drop(columns=["seeds_a", "seeds_b"])
                 .rename(columns={"A": "a", "B": "b", "n_posts": "n_test"}))
        table["q_bh"] = false_discovery_control(table["p_value"].to_numpy(), method="bh")
    return table


def significance_display(sig: pd.DataFrame, metric: str = "src", digits: int = 3) -> pd.DataFrame:
    """The markdown version: one row per (regime, split, claim) for ``metric``, the
    improvement with its CI, p and q."""
    s = sig[sig["metric"] == metric]
    return pd.DataFrame({
        "regime": s["regime"], "split": s["split"], "claim (A beats B)": s["claim"],
        f"{metric.upper()} A - B" if metric == "src" else f"{metric.upper()} B - A":
            [interval_cell(v, lo, hi, digits)
             for v, lo, hi in zip(s["improvement"], s["ci_low"], s["ci_high"])],
        "p": s["p_value"].round(4), "q (BH)": s["q_bh"].round(4),
    }).reset_index(drop=True)


def significance_caption(n_boot: int, n_seeds: int, alpha: float = 0.05) -> str:
    return ("Regime sweep significance - simulated data (SMPD-Sim v2 regimes), not real SMPD. "
            "Per regime and split, each claim 'A beats B' is a one-sided paired bootstrap over "
            f"that split's test posts ({n_boot} resamples; a seeded row enters as the mean over "
            f"its {n_seeds} seed(s) of the metric on each resample); the interval is the 95% "
            "percentile CI of the improvement (positive = A better). q (BH): Benjamini-Hochberg "
            f"adjusted p over every test of the table (SRC and MSE); a claim holds at q < {alpha}.")


def claims_summary(sig: pd.DataFrame, alpha: float = 0.05) -> dict:
    """{claim: {metric: [(regime, split), ...] where it holds at q_bh < alpha}}."""
    out: dict = {}
    for r in sig.to_dict("records"):
        held = out.setdefault(r["claim"], {}).setdefault(r["metric"], [])
        if r["q_bh"] < alpha:
            held.append(f"{r['regime']}/{r['split']}")
    return out


def metrics_json(table: pd.DataFrame, info: dict, cfg, sig: pd.DataFrame | None = None) -> dict:
    """``metrics/regimes.json``: test SRC/MSE/MAE per regime/split/model, the mechanism checks
    and, with ``sig`` (:func:`significance_table`), each claim's p / q per regime and split."""
    res = {}
    for r in table.to_dict("records"):
        res.setdefault(r["regime"], {}).setdefault(r["split"], {})[r["model"]] = {
            k: round(float(r[k]), 6) for k in r if k.endswith(("_mean", "_std"))} | {"seeds": int(r["seeds"])}
    return {"dataset": "SMPD-Sim v2 regimes (simulated)", "posts_per_regime": int(cfg.posts),
            "n_seeds": int(cfg.n_seeds), "results": res,
            "checks": {g: {s: {k: (round(v, 6) if isinstance(v, float) else v) for k, v in d.items()}
                           for s, d in sp.items()} for g, sp in mechanism_checks(table).items()},
            "data": {g: {"split_sizes": i["split_sizes"], "data_fingerprint": i["data_fingerprint"]}
                     for g, i in info.items()},
            **({} if sig is None else {"significance": _significance_json(sig)})}


def _significance_json(sig: pd.DataFrame) -> dict:
    out: dict = {}
    for r in sig.to_dict("records"):
        out.setdefault(r["regime"], {}).setdefault(r["split"], {}).setdefault(r["claim"], {})[r["metric"]] = {
            "improvement": round(float(r["improvement"]), 6), "ci_low": round(float(r["ci_low"]), 6),
            "ci_high": round(float(r["ci_high"]), 6), "p_value": round(float(r["p_value"]), 6),
            "q_bh": round(float(r["q_bh"]), 6)}
    return {"claims": out, "held_at_q_0.05": claims_summary(sig)}
