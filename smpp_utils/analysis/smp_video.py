"""The SMP-Video arm (notebook 12): the study's rows on REAL posts (SMP Challenge 2025 video
track: TikTok posts with text, user statistics, video metadata and time; no video frames),
under both split protocols, with seeds, significance and a negative control.

Inputs (``data.smp_video`` reads and validates the official files in place;
``data.smp_video_inputs`` builds the features and the inputs dict every model shares):
the frozen MiniLM text embedding of post_content + suggested words, the metadata (user
statistics, video metadata, time, language, country, counts, the out-of-fold user mean label).

Rows (``ROWS``; seeded rows run ``n_seeds`` seeds, the others are deterministic):

* ``LightGBM (metadata only)``; ``LightGBM`` / ``CatBoost (metadata + text)`` - Paper A's
  regressor family (``paper_a.boosting.fit_lgbm`` / ``fit_catboost``, the boosting stage's
  hyper-parameters) on the metadata + the train-PCA of the frozen text embedding. Paper A's
  prototypes and prompt fine-tuning need images and a category taxonomy: not run (n/a rows).
* ``Direct regression``: an MLP head (``DirectHead``: [text; metadata] -> 256 -> 128 -> 1,
  GELU, dropout 0.1) trained on the standardised label through the shared trainer
  (``core.trainer`` via ``baselines.fit.fit_predict``, the jrpp section's lr / batch / epochs /
  patience). Paper A fine-tunes CLIP end to end; here the text encoder stays frozen.
* ``JRPP (as shipped)`` (the jrpp section's knobs, metadata and neighbours' labels, test-time
  perturbation) and ``JRPP w/o test-time perturbation`` (the same fits, plain prediction);
  ``JRPP (content + user id)`` (``jrpp.experiment.MATCHED_OVERRIDES``, no metadata) - all
  through ``jrpp.experiment.train_jrpp`` / ``predict_splits`` with an empty image block.
* The Table-2 baselines that can run on text + metadata (``baselines.REGISTRY``): SVR, HyFea,
  MFTM as shipped; CLSTM, HMMVED, MASSL, BLIP, CBAN and SKAPP with a constant-zero image column
  (``data.smp_video_inputs.with_placeholder_image``: their shared ``run_neural`` refuses a
  zero-width image). DLBA (image only), NIPA (image retriever) and MMRA (image + text
  retrievers): "n/a: needs images".
* ``Ridge (text embedding)`` (alpha on val), kNN label mean and time-aware kNN label mean over
  the train bank (cosine on the text embedding, ``core.knn``; time-aware: of the
  ``knn_shortlist`` nearest by content the ``knn_k`` nearest in post time), the out-of-fold
  user mean label, and the train mean (a constant; the reference of the negative control).
* Hybrids: ``Hybrid: GBDT features + JRPP prediction`` and its control (LightGBM on the
  GBDT features with / without JRPP's two predictions as columns, fitted on the VALIDATION
  posts by K-fold cross-fitting, ``analysis.head_to_head.cross_fit_lgbm``: JRPP has no
  out-of-sample train predictions); ``Hybrid: GBDT + retrieved-label features`` (LightGBM on
  the GBDT features + the kNN / time-aware kNN label means and similarities, fitted on train:
  a train post retrieves from the bank without itself, as JRPP's train queries do).
* Negative control, "bank labels shuffled within the bank": the kNN rows, JRPP (w/o
  perturbation, trained and predicting with a permuted bank label vector while its training
  targets stay the true labels) and the retrieved-label hybrid, each with the train labels
  permuted in the bank by a seeded permutation. Retrieval that reads labels must lose its
  edge there.

Protocols: ``random`` (JRPP's seeded 8:1:1) and ``chrono`` (the latest ``chrono_test_frac``
of the labelled posts by time as test, the latest ``chrono_val_frac`` before them as val).

Significance (``analysis.smp_video_report``): each claim of ``CLAIMS`` per protocol by the
head-to-head's paired bootstrap (``analysis.significance``), Benjamini-Hochberg q over every
test. The knobs: params.yaml's ``smp_video`` section (:func:`arm_config`).
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import torch
from torch import nn

from ..baselines.layers import Regressor, mlp
from ..core import paths
from ..core.io import write_parquet
from ..core.metrics import regression_metrics
from ..data import smp_video as V
from ..data import smp_video_inputs as I
from .regimes import Clock

PROFILE = "smp_video"
ROOT_ENV = "SMPP_SMP_VIDEO_ROOT"


def with_root(cfg) -> SimpleNamespace:
    """The arm's knobs (``cfg``: ``config.stage("smp_video", ...)``, the profile's section) and
    the data folder ``data.smp_video_root`` (``$SMPP_SMP_VIDEO_ROOT`` wins: tests and CI point it
    at a copy)."""
    from ..core import config

    cfg.smp_video_root = os.environ.get(ROOT_ENV) or config.knob("data.smp_video_root", cfg.profile)
    return cfg


def root_of(cfg) -> Path:
    """The official files' folder; a clear error naming the knob when it is absent."""
    root = paths.resolve(cfg.smp_video_root)
    if root is None or not root.is_dir():
        raise FileNotFoundError(f"{cfg.profile}.data.smp_video_root: {cfg.smp_video_root} does not exist "
                                f"(resolved {root}); point it at the SMP-Video folder (train/, test/) or set ${ROOT_ENV}")
    return root


def data_key(profile: str) -> str:
    """Where the arm's data and predictions live: ``data/smp_video`` for its own profile,
    ``data/<profile>/smp_video`` under any other (ci: never beside the SMPD-Sim posts table)."""
    return profile if profile == PROFILE else f"{profile}/smp_video"


def jrpp_config(cfg, profile: str | None = None) -> SimpleNamespace:
    """JRPP "as shipped": the profile's jrpp section; ``n_seeds`` and (when > 0)
    ``jrpp_epochs`` from the arm's ``cfg``."""
    from ..core import config

    sec = vars(config.stage("jrpp", profile or cfg.profile))
    sec.update(seed=int(cfg.seed), n_seeds=int(cfg.n_seeds))
    if int(cfg.jrpp_epochs) > 0:
        sec["epochs"] = int(cfg.jrpp_epochs)
    return SimpleNamespace(**sec)


def seeds_of(cfg) -> list[int]:
    return [int(cfg.seed) + i for i in range(int(cfg.n_seeds))]


# ----------------------------------------------------------------------------- rows
META_GBDT = "LightGBM (metadata only)"
GBDT = "LightGBM (metadata + text; Paper A regressor family)"
CATBOOST = "CatBoost (metadata + text; Paper A regressor family)"
DIRECT = "Direct regression (MLP on text + metadata)"
JRPP = "JRPP (as shipped)"
JRPP_NO_TTA = "JRPP w/o test-time perturbation"
JRPP_CU = "JRPP (content + user id)"
RIDGE = "Ridge (text embedding)"
KNN = "kNN label mean (text embedding)"
KNN_TIME = "kNN label mean, time-aware"
USER_MEAN = "User mean label (out of fold)"
TRAIN_MEAN = "Train mean (constant)"
HYBRID = "Hybrid: GBDT features + JRPP prediction (LightGBM, val cross-fit)"
HYBRID_CONTROL = "Control: GBDT features (LightGBM, val cross-fit)"
HYBRID_KNN = "Hybrid: GBDT + retrieved-label features (LightGBM)"
SHUF = " [bank labels shuffled]"
KNN_SHUF, KNN_TIME_SHUF = KNN + SHUF, KNN_TIME + SHUF
JRPP_SHUF, HYBRID_KNN_SHUF = JRPP_NO_TTA + SHUF, HYBRID_KNN + SHUF

BASELINES = ("SVR", "HyFea", "MFTM", "CLSTM", "HMMVED", "DLBA", "MASSL", "BLIP", "CBAN", "NIPA", "MMRA", "SKAPP")
NEEDS_IMAGES = {"DLBA": "n/a: needs images (an image-only regressor)",
                "NIPA": "n/a: needs images (retrieves by image similarity)",
                "MMRA": "n/a: needs images (half its retrievers search image embeddings)"}
PLACEHOLDER = ("CLSTM", "HMMVED", "MASSL", "BLIP", "CBAN", "SKAPP")   # run with a constant-zero image column
NOT_APPLICABLE = {
    "Paper A: CLIPFT (prompt fine-tuning) + LightGBM / CatBoost": "n/a: needs images/categories",
    "Paper A: visual/textual prototypes": "n/a: needs images/categories",
    "Paper A: direct regression (CLIP fine-tuned end to end)": "n/a: needs images",
}

GROUPS = {  # row -> table group, in table order
    **{b: "Table 2 baselines" for b in BASELINES},
    RIDGE: "reference rows", KNN: "reference rows", KNN_TIME: "reference rows", USER_MEAN: "reference rows",
    TRAIN_MEAN: "reference rows",
    META_GBDT: "Paper A regressor family", GBDT: "Paper A regressor family", CATBOOST: "Paper A regressor family",
    DIRECT: "Paper A regressor family",
    JRPP_CU: "JRPP", JRPP_NO_TTA: "JRPP", JRPP: "JRPP",
    HYBRID_CONTROL: "hybrid", HYBRID: "hybrid", HYBRID_KNN: "hybrid",
    KNN_SHUF: "negative control", KNN_TIME_SHUF: "negative control", JRPP_SHUF: "negative control",
    HYBRID_KNN_SHUF: "negative control",
}
ROWS = tuple(GROUPS)
SEEDED = (META_GBDT, GBDT, CATBOOST, DIRECT, JRPP, JRPP_NO_TTA, JRPP_CU, HYBRID, HYBRID_CONTROL,
          HYBRID_KNN, HYBRID_KNN_SHUF, KNN_SHUF, KNN_TIME_SHUF, JRPP_SHUF, *BASELINES)


def gbdt_params(cfg) -> SimpleNamespace:
    return SimpleNamespace(lgbm_estimators=int(cfg.lgbm_estimators), lgbm_lr=float(cfg.lgbm_lr),
                           lgbm_leaves=int(cfg.lgbm_leaves), cat_iterations=int(cfg.cat_iterations),
                           cat_depth=int(cfg.cat_depth), cat_lr=float(cfg.cat_lr))


def gbdt_matrix(meta: pd.DataFrame, txt: np.ndarray | None, train_mask, pca_dims: int) -> pd.DataFrame:
    """Metadata (numeric + language/country categoricals) and, when given, the text block
    reduced by a PCA fitted on the train rows (``paper_a.boosting.feature_matrix``)."""
    from ..paper_a.boosting import feature_matrix

    blocks = {} if txt is None else {"txt": txt}
    return feature_matrix(meta.reset_index(drop=True), blocks, int(pca_dims) or None,
                          train_mask=np.asarray(train_mask, dtype=bool))


def retrieved_labels(bank_x, y_bank, t_bank, q_x, t_q, k: int, shortlist: int, self_ids=None) -> dict:
    """Label features of each query from the train bank (cosine on the text embedding,
    ``core.knn.CosineRetriever``; a train query, ``self_ids[i] >= 0``, never retrieves
    itself): ``knn`` = mean label of the ``k`` nearest, ``knn_time`` = of the ``shortlist``
    nearest by content the ``k`` nearest in post time (the rule of
    ``analysis.regimes.knn_prediction``), ``sim1`` / ``sim_mean`` = top-1 / mean cosine of the k."""
    from ..core.knn import CosineRetriever

    ret = CosineRetriever(bank_x)
    y_bank = np.asarray(y_bank, dtype=float)
    ids, sims = ret.search(q_x, max(int(k), int(shortlist)), self_ids)
    top = ids[:, :k]
    dt = np.abs(np.asarray(t_bank, dtype=float)[ids] - np.asarray(t_q, dtype=float)[:, None])
    near = np.take_along_axis(ids, np.argsort(dt, axis=1, kind="stable")[:, :k], axis=1)
    return {"knn": y_bank[top].mean(1), "knn_time": y_bank[near].mean(1),
            "sim1": sims[:, 0].astype(float), "sim_mean": sims[:, :k].mean(1).astype(float)}


class DirectHead(Regressor):
    """Direct regression on frozen inputs: MLP([txt; meta]) -> 256 -> 128 -> 1 (GELU, dropout
    0.1), trained on z = (y - mean) / std and predicting on the label scale (the baselines'
    ``Regressor`` base)."""

    def __init__(self, d_in: int, y_mean: float, y_std: float, hidden: int = 256):
        super().__init__(y_mean, y_std)
        self.net = nn.Sequential(nn.Linear(d_in, hidden), nn.GELU(), nn.Dropout(0.1),
                                 mlp(hidden, hidden // 2, 1, 0.1, layers=2))

    def forward(self, b):
        return self.net(torch.cat([b["txt"], b["meta"]], -1)).squeeze(-1)


def direct_regression(data: dict, info: dict, jcfg, seed: int) -> dict:
    from ..baselines.fit import fit_predict, seeded
    from ..baselines.inputs import label_stats

    seeded(seed)
    m, s = label_stats(data, info)
    model = DirectHead(data["train"]["txt"].shape[1] + data["train"]["meta"].shape[1], m, s)
    return fit_predict(model, data, jcfg, seed)


def train_jrpp_shuffled_bank(data: dict, info: dict, jcfg, seed: int, perm: np.ndarray):
    """``jrpp.experiment.train_jrpp`` with the bank's label vector permuted by ``perm`` (the
    negative control): the model is built on a bank whose posts carry other posts' labels and
    trained on the true targets of ``data['train']``."""
    from ..core.trainer import Trainer
    from ..jrpp.experiment import train_config
    from ..jrpp.model import JRPP, JRPPConfig

    torch.manual_seed(seed)
    bank = {**data["train"], "y": data["train"]["y"][torch.from_numpy(np.asarray(perm))]}
    model = JRPP(info["dims"], info["n_users"], info["label_mean"], JRPPConfig.from_cfg(jcfg), bank=bank)
    tr = Trainer(model, train_config(jcfg, seed), None, False)
    tr.fit(data["train"], data["val"], resume=False)
    return tr.model


def _split_arrays(posts: pd.DataFrame, arr: np.ndarray) -> dict:
    return {s: arr[(posts["split"] == s).to_numpy()] for s in ("train", "val", "test")}


def run_scheme(posts: pd.DataFrame, emb: np.ndarray, fingerprint: str, scheme: str, cfg,
               jcfg, clock: Clock | None = None, log=print, rows=ROWS) -> dict:
    """Every row of ``rows`` on one protocol. ``posts`` (with ``split``) and ``emb`` are
    row-aligned. Returns ``{"y": {split: labels}, "pids": {split: Pids}, "preds": {row: {split:
    (seeds, n) array}}, "not_run": {row: reason}, "seeds": {row: [seed, ...]}, "notes": {...}}``."""
    from ..baselines import REGISTRY, NotRun
    from ..jrpp import experiment as ex
    from ..paper_a.boosting import fit_catboost, fit_lgbm, predict
    from .head_to_head import cross_fit_lgbm
    from .regimes import ridge_prediction, user_mean_prediction

    clock = clock or Clock()
    posts = posts.reset_index(drop=True)
    seeds = seeds_of(cfg)
    split = posts["split"].to_numpy()
    tr = split == "train"
    with clock("inputs"):
        meta = I.metadata_features(posts, int(cfg.oof_folds), int(cfg.seed))
        data, info = I.build_inputs(posts, emb, fingerprint, scheme, int(cfg.oof_folds), int(cfg.seed), meta=meta)
        X_meta = gbdt_matrix(meta, None, tr, 0)
        X = gbdt_matrix(meta, emb, tr, int(cfg.pca_dims))
    y = {s: data[s]["y"].numpy().astype(float) for s in data}
    pids = info["pids"]
    res = {"y": y, "pids": pids, "preds": {}, "not_run": {}, "seeds": {}, "notes": {}}
    P = res["preds"]

    def put(row, per_seed: list[dict], seed_list):
        P[row] = {s: np.stack([np.asarray(p[s], dtype=float) for p in per_seed]) for s in ("val", "test")}
        res["seeds"][row] = list(seed_list)
        if log:
            m = regression_metrics(y["test"], P[row]["test"].mean(0))
            log(f"{scheme:6s} {row[:60]:60s} SRC {m['src']:.4f} MSE {m['mse']:.4f} ({len(per_seed)} seed(s))")

    def want(*names):
        return any(n in rows for n in names)

    xs = _split_arrays(posts, emb)
    Xs = {s: X[split == s].reset_index(drop=True) for s in ("train", "val", "test")}
    Xm = {s: X_meta[split == s].reset_index(drop=True) for s in ("train", "val", "test")}
    gp = gbdt_params(cfg)

    # -- deterministic reference rows
    if want(TRAIN_MEAN):
        put(TRAIN_MEAN, [{s: np.full(len(y[s]), y["train"].mean()) for s in ("val", "test")}], [None])
    if want(USER_MEAN):
        put(USER_MEAN, [{s: user_mean_prediction(meta[split == s], float(y["train"].mean()))
                         for s in ("val", "test")}], [None])
    if want(RIDGE):
        alphas = [float(a) for a in str(cfg.ridge_alphas).split(",") if a.strip()]
        with clock(RIDGE):
            out = {}
            for s in ("val", "test"):
                out[s], alpha = ridge_prediction(xs["train"], y["train"], xs["val"], y["val"], xs[s], alphas)
            res["notes"][RIDGE] = f"alpha {alpha:g} (val MSE)"
        put(RIDGE, [out], [None])
    t = (posts["postdate"] - posts["postdate"].min()).dt.total_seconds().to_numpy(dtype=float)
    ts = _split_arrays(posts, t)
    k, sl = int(cfg.knn_k), int(cfg.knn_shortlist)

    def label_feats(y_bank):
        out = {"train": retrieved_labels(xs["train"], y_bank, ts["train"], xs["train"], ts["train"], k, sl,
                                         np.arange(len(xs["train"])))}
        for s in ("val", "test"):
            out[s] = retrieved_labels(xs["train"], y_bank, ts["train"], xs[s], ts[s], k, sl)
        return out

    feats = None
    if want(KNN, KNN_TIME, HYBRID_KNN):
        with clock("kNN"):
            feats = label_feats(y["train"])
        put(KNN, [{s: feats[s]["knn"] for s in ("val", "test")}], [None])
        put(KNN_TIME, [{s: feats[s]["knn_time"] for s in ("val", "test")}], [None])
    perms = {sd: np.random.default_rng(sd + 7919).permutation(len(y["train"])) for sd in seeds}
    shuf_feats = {}
    if want(KNN_SHUF, KNN_TIME_SHUF, HYBRID_KNN_SHUF):
        with clock("kNN shuffled"):
            shuf_feats = {sd: label_feats(y["train"][perms[sd]]) for sd in seeds}
        put(KNN_SHUF, [{s: shuf_feats[sd][s]["knn"] for s in ("val", "test")} for sd in seeds], seeds)
        put(KNN_TIME_SHUF, [{s: shuf_feats[sd][s]["knn_time"] for s in ("val", "test")} for sd in seeds], seeds)

    # -- Paper A's regressor family
    def gbdt_rows(row, mats, fit):
        with clock(row):
            outs = []
            for sd in seeds:
                m = fit(mats["train"], y["train"], mats["val"], y["val"], gp, sd)
                outs.append({s: predict(m, mats[s]) for s in ("val", "test")})
        put(row, outs, seeds)

    if want(META_GBDT):
        gbdt_rows(META_GBDT, Xm, fit_lgbm)
    if want(GBDT):
        gbdt_rows(GBDT, Xs, fit_lgbm)
    if want(CATBOOST):
        gbdt_rows(CATBOOST, Xs, fit_catboost)

    def with_label_feats(f):
        return {s: Xs[s].assign(**{f"nbr_{c}": v for c, v in f[s].items()}) for s in ("train", "val", "test")}

    if want(HYBRID_KNN) and feats is not None:
        gbdt_rows(HYBRID_KNN, with_label_feats(feats), fit_lgbm)
    if want(HYBRID_KNN_SHUF) and shuf_feats:
        with clock(HYBRID_KNN_SHUF):
            outs = []
            for sd in seeds:
                mats = with_label_feats(shuf_feats[sd])
                m = fit_lgbm(mats["train"], y["train"], mats["val"], y["val"], gp, sd)
                outs.append({s: predict(m, mats[s]) for s in ("val", "test")})
        put(HYBRID_KNN_SHUF, outs, seeds)
    if want(DIRECT):
        with clock(DIRECT):
            put(DIRECT, [direct_regression(data, info, jcfg, sd) for sd in seeds], seeds)

    # -- JRPP
    d = ex.with_bank_pos(data)
    if want(JRPP, JRPP_NO_TTA, HYBRID, HYBRID_CONTROL):
        outs, plain, epochs = [], [], []
        with clock(JRPP):
            for sd in seeds:
                model, hist = ex.train_jrpp(d, info, jcfg, sd, None)
                pr = ex.predict_splits(model, d, jcfg, sd, tta=int(jcfg.tta_T) > 0)
                outs.append({s: pr[s]["y_pred_tta"] for s in ("val", "test")})
                plain.append({s: pr[s]["y_pred"] for s in ("val", "test")})
                epochs.append(len(hist.val_mse))
        put(JRPP, outs, seeds)
        put(JRPP_NO_TTA, plain, seeds)
        res["notes"][JRPP] = f"epochs run {epochs} (cap {int(jcfg.epochs)}, patience {int(jcfg.patience)})"
    if want(JRPP_SHUF):
        with clock(JRPP_SHUF):
            outs = []
            for sd in seeds:
                model = train_jrpp_shuffled_bank(d, info, jcfg, sd, perms[sd])
                outs.append({s: ex.predict_splits(model, d, jcfg, sd, tta=False)[s]["y_pred"] for s in ("val", "test")})
        put(JRPP_SHUF, outs, seeds)
    if want(JRPP_CU):
        dc, ic = ex.content_only(d, info)
        with clock(JRPP_CU):
            outs = []
            for sd in seeds:
                model, _ = ex.train_jrpp(dc, ic, jcfg, sd, None, **ex.MATCHED_OVERRIDES)
                outs.append({s: ex.predict_splits(model, dc, jcfg, sd, tta=False)[s]["y_pred"] for s in ("val", "test")})
        put(JRPP_CU, outs, seeds)
    if want(HYBRID, HYBRID_CONTROL) and JRPP in P:
        with clock(HYBRID):
            hyb, ctl = [], []
            for i, sd in enumerate(seeds):
                cols = {"jrpp_pred": P[JRPP], "jrpp_pred_no_tta": P[JRPP_NO_TTA]}
                Xh = {s: Xs[s].assign(**{c: v[s][i] for c, v in cols.items()}) for s in ("val", "test")}
                for store, mats in ((hyb, Xh), (ctl, Xs)):
                    oof, test = cross_fit_lgbm(mats["val"], y["val"], mats["test"], gp, sd, int(cfg.hybrid_folds))
                    store.append({"val": oof, "test": test})
        put(HYBRID, hyb, seeds)
        put(HYBRID_CONTROL, ctl, seeds)

    # -- Table 2 baselines
    wanted = [] if str(cfg.baselines).lower() in ("none", "", "false") else \
        (list(BASELINES) if str(cfg.baselines).lower() == "all" else
         [b.strip() for b in str(cfg.baselines).split(",") if b.strip()])
    dp, ip = I.with_placeholder_image(data, info)
    for name in BASELINES:
        if name not in rows:
            continue
        if name not in wanted:
            res["not_run"][name] = "not run (baselines knob)"
            continue
        if name in NEEDS_IMAGES:
            res["not_run"][name] = NEEDS_IMAGES[name]
            continue
        dd, ii = (dp, ip) if name in PLACEHOLDER else (data, info)
        try:
            with clock(name):
                outs = [REGISTRY[name](dd, ii, sd, jcfg) for sd in seeds]
            put(name, outs, seeds)
            if name in PLACEHOLDER:
                res["notes"][name] = "image input: one constant-zero column (no image)"
        except NotRun as e:
            res["not_run"][name] = f"not run: {e}"
    return res


# ----------------------------------------------------------------------------- data
def subset(posts: pd.DataFrame, max_posts: int, seed: int) -> pd.DataFrame:
    """A seeded subset of ``max_posts`` labelled posts and as many unlabelled ones in
    proportion (all posts when ``max_posts`` is 0 or larger than the table)."""
    if int(max_posts) <= 0:
        return posts
    rng = np.random.default_rng(int(seed))
    lab = posts.index[posts["label"].notna()].to_numpy()
    unl = posts.index[posts["label"].isna()].to_numpy()
    if int(max_posts) >= len(lab):
        return posts
    n_unl = int(round(len(unl) * int(max_posts) / len(lab)))
    keep = np.sort(np.concatenate([rng.choice(lab, int(max_posts), replace=False),
                                   rng.choice(unl, n_unl, replace=False) if n_unl else np.array([], int)]))
    return posts.loc[keep].reset_index(drop=True)


def prepare_data(cfg, log=print) -> dict:
    """Read and validate the official files in place, (subset,) write posts/splits, embed the
    text once. Returns ``{"posts": all posts, "emb": row-aligned embedding, "data_fp", "report"}``."""
    root = root_of(cfg)
    posts, reader = V.read_smp_video(root)
    posts = subset(posts, int(cfg.max_posts), int(cfg.seed))
    key = data_key(cfg.profile)
    posts, report = V.prepare(root, key, cfg.val_frac, cfg.test_frac, int(cfg.seed),
                              cfg.chrono_val_frac, cfg.chrono_test_frac, posts=posts)
    report["reader"] = reader
    allp, _ = V.load_posts(key, "random", labelled_only=False)
    emb = I.text_embeddings(key, allp, report["data_fingerprint"], int(cfg.embed_batch))
    if log:
        log(V.summary(allp))
        log(f"split sizes {report['split_sizes']}; chrono test from {report['chrono_test_from']}")
    return {"posts": allp, "emb": emb, "data_fp": report["data_fingerprint"], "report": report}


def scheme_posts(profile: str, scheme: str, all_posts: pd.DataFrame, emb: np.ndarray):
    """The labelled posts of ``scheme`` with ``split`` (Pid order), their embedding rows and
    the split fingerprint."""
    posts, fp = V.load_posts(profile, scheme)
    pos = pd.Index(all_posts["Pid"].to_numpy()).get_indexer(posts["Pid"].to_numpy())
    return posts, emb[pos], fp


def run_arm(cfg, jcfg, prepared: dict, log=print) -> tuple[dict, Clock]:
    """:func:`run_scheme` for every protocol of ``cfg.schemes``: ({scheme: result}, clock)."""
    clock = Clock()
    out = {}
    for scheme in [s.strip() for s in str(cfg.schemes).split(",") if s.strip()]:
        w = time.perf_counter()
        posts, emb, fp = scheme_posts(data_key(cfg.profile), scheme, prepared["posts"], prepared["emb"])
        out[scheme] = run_scheme(posts, emb, fp, scheme, cfg, jcfg, clock, log)
        out[scheme]["fingerprint"] = fp
        if log:
            log(f"{scheme}: {time.perf_counter() - w:.0f} s")
    return out, clock


def write_predictions(profile: str, results: dict) -> list[Path]:
    """``data/<data_key(profile)>/predictions/<scheme>.parquet``: every row's val/test
    predictions (model, seed, Pid, split, y_pred), with the split fingerprint."""
    written = []
    for scheme, r in results.items():
        parts = []
        for model, per in r["preds"].items():
            for s, mat in per.items():
                for i, p in enumerate(mat):
                    seed = r["seeds"][model][i]
                    parts.append(pd.DataFrame({"model": model, "seed": -1 if seed is None else int(seed),
                                               "Pid": r["pids"][s], "split": s, "y_pred": p}))
        path = paths.data_dir(data_key(profile)) / "predictions" / f"{scheme}.parquet"
        written.append(write_parquet(pd.concat(parts, ignore_index=True), path,
                                     {"fingerprint": r["fingerprint"], "scheme": scheme}))
    return written
