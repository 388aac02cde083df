"""Head-to-head (notebook 08): every model the pipeline trained, on ONE split (random 8:1:1)
and the SAME test posts, with paired-bootstrap p-values for each claimed improvement.

Rows, read from the prediction files earlier stages wrote (nothing is retrained except the
hybrid below):

* Paper A (05, ``predictions/boosting.parquet``, test only): CLIPFT + metadata with LightGBM
  and CatBoost, metadata-only LightGBM; Paper A's direct regression (03, via 05's file).
* JRPP (04, ``predictions/jrpp/jrpp_seed{i}.parquet``, val + test): with and without the
  test-time perturbation. (The issue also asks for a "content + user id" JRPP; stage 04
  writes one configuration only, so only that one appears.)
* The 12 baselines (04, ``baselines_seed{i}.parquet``, val + test). "Best baseline" is the
  one with the best mean VALIDATION SRC - chosen on val, never on the test posts it is then
  compared on.
* Oracle (SMPD-Sim only): per post E[label | noise-free latent score], the simulator's exact
  label expectation (``data.sim.oracle_predictions`` on ``raw/sim_latent.csv``, the same
  computation as the ceiling in ``metrics/data.json``; no model reads that file).
* Hybrid: JRPP's prediction as extra features of the same LightGBM (Paper A's
  hyper-parameters, ``paper_a.boosting.fit_lgbm``) on Paper A's features (the metadata table
  of 05 + the CLIPFT blocks of 03, PCA fitted on train rows as in 05). JRPP writes val/test
  predictions only, and a JRPP prediction for a train post would be in-sample (it was fitted
  on it), so the stacker is fitted on the VALIDATION posts with K-fold cross-fitting: fold k's
  model trains on the other K-1 val folds and early-stops on fold k; its test predictions are
  averaged over the K folds. Test labels are never seen. JRPP's retrieval context (its
  retrieved neighbours and their scores) is not in 04's outputs, so the hybrid reads only
  JRPP's two predictions (with / without test-time perturbation). To separate "JRPP's
  prediction helps" from "fitted on val", the control row is the same cross-fitted LightGBM
  on Paper A's features without the JRPP columns.

Significance: :func:`smpp_utils.analysis.significance.paired_bootstrap` on the test posts,
seed matrices (mean over seeds), one-sided p for "A better than B" per metric.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..core import config, paths
from ..core.io import read_parquet
from ..core.metrics import regression_metrics, summarize_seeds
from ..core.reports import mean_std_cell
from ..data.provenance import with_note
from . import significance

ORACLE = "Oracle (simulator's exact label expectation)"
JRPP = "JRPP"
JRPP_NO_TTA = "JRPP w/o test-time perturbation"
PAPER_A_LGBM = "Paper A: CLIPFT + metadata (LightGBM)"
PAPER_A_CAT = "Paper A: CLIPFT + metadata (CatBoost)"
PAPER_A_META = "Paper A: metadata only (LightGBM)"
HYBRID = "Hybrid: Paper A features + JRPP prediction (LightGBM, val cross-fit)"
HYBRID_CONTROL = "Control: Paper A features (LightGBM, val cross-fit)"

# (variant, regressor) of boosting.parquet -> row name
BOOSTING_ROWS = {("clipft", "LightGBM"): PAPER_A_LGBM,
                 ("clipft", "CatBoost"): PAPER_A_CAT,
                 ("metadata", "LightGBM"): PAPER_A_META,
                 ("direct", "neural head"): "Paper A: direct regression (content only)",
                 ("direct_meta", "neural head"): "Paper A: direct regression (content + metadata)"}


# ----------------------------------------------------------------------------- collect
def _long(model: str, family: str, seed: int, df: pd.DataFrame, col: str) -> pd.DataFrame:
    return pd.DataFrame({"model": model, "family": family, "seed": int(seed),
                         "Pid": df["Pid"].to_numpy(), "split": df["split"].astype(str).to_numpy(),
                         "y_pred": df[col].to_numpy(dtype=float)})


def collect_predictions(profile: str, fingerprint: str) -> pd.DataFrame:
    """Long table (model, family, seed, Pid, split, y_pred) of every val/test prediction of
    stages 03-05 on disk, each file checked against the split ``fingerprint``."""
    d = paths.data_dir(profile) / "predictions"
    parts = []
    for f in sorted((d / "jrpp").glob("jrpp_seed*.parquet")):
        df, _ = read_parquet(f, expect_fingerprint=fingerprint)
        seed = int(f.stem.rsplit("seed", 1)[1])
        parts += [_long(JRPP, "JRPP", seed, df, "y_pred_tta"), _long(JRPP_NO_TTA, "JRPP", seed, df, "y_pred")]
    for f in sorted((d / "jrpp").glob("baselines_seed*.parquet")):
        df, _ = read_parquet(f, expect_fingerprint=fingerprint)
        seed = int(f.stem.rsplit("seed", 1)[1])
        parts += [_long(c, "baseline", seed, df, c) for c in df.columns if c not in ("Pid", "split")]
    boost = d / "boosting.parquet"
    if boost.is_file():
        df, _ = read_parquet(boost, expect_fingerprint=fingerprint)
        for (variant, reg), name in BOOSTING_ROWS.items():
            sub = df[(df["variant"] == variant) & (df["regressor"] == reg)]
            for seed, g in sub.groupby("seed", sort=True):
                parts.append(_long(name, "Paper A", seed, g.assign(split="test"), "y_pred"))
    if not parts:
        raise FileNotFoundError(f"{d}: no predictions - run the finetune (03), jrpp (04) and "
                                "boosting (05) stages first")
    return pd.concat(parts, ignore_index=True)


def oracle_series(profile: str) -> pd.Series | None:
    """Per-post oracle E[label | latent] (Pid index) of a simulated profile, None on real SMPD:
    ``data.prepare.oracle_series`` with the profile's data settings."""
    from ..data.prepare import data_source, oracle_series as sim_oracle

    if data_source(profile) != "sim":
        return None
    return sim_oracle(config.stage("data", profile=profile)).rename("oracle")


def add_oracle(preds: pd.DataFrame, oracle: pd.Series | None, posts: pd.DataFrame) -> pd.DataFrame:
    if oracle is None:
        return preds
    sub = posts[posts["split"].isin(["val", "test"])]
    o = oracle.reindex(sub["Pid"])
    if o.isna().any():
        raise KeyError(f"oracle: {int(o.isna().sum())} val/test Pids missing from sim_latent.csv")
    extra = pd.DataFrame({"model": ORACLE, "family": "oracle", "seed": 0, "Pid": sub["Pid"].to_numpy(),
                          "split": sub["split"].astype(str).to_numpy(), "y_pred": o.to_numpy()})
    return pd.concat([preds, extra], ignore_index=True)


# ----------------------------------------------------------------------------- matrices
def prediction_matrix(preds: pd.DataFrame, model: str, pids, split: str = "test") -> np.ndarray:
    """(seeds, n) predictions of ``model`` on ``pids`` (in that order); every Pid required."""
    sub = preds[(preds["model"] == model) & (preds["split"] == split)]
    if sub.empty:
        raise KeyError(f"no {split} predictions of model {model!r}")
    wide = sub.pivot(index="Pid", columns="seed", values="y_pred")
    pids = np.asarray(pids)
    missing = pids[~np.isin(pids, wide.index)]
    if len(missing) or wide.isna().any().any():
        raise KeyError(f"model {model!r}: {split} predictions missing for some Pids, e.g. {missing[:5].tolist()}")
    return wide.reindex(pids).to_numpy(dtype=float).T


def model_table(preds: pd.DataFrame, labels: pd.Series, split: str = "test") -> pd.DataFrame:
    """One row per model: seeds, mean and std over seeds of SRC / MAE / MSE on ``split``."""
    rows = []
    sub = preds[preds["split"] == split]
    for (model, family), g in sub.groupby(["model", "family"], sort=False):
        per_seed = [regression_metrics(labels.reindex(s["Pid"]).to_numpy(), s["y_pred"].to_numpy())
                    for _, s in g.groupby("seed", sort=True)]
        rows.append({"model": model, "family": family, "seeds": len(per_seed),
                     **summarize_seeds(per_seed, keys=("src", "mae", "mse"))})
    return pd.DataFrame(rows)


def best_baseline(preds: pd.DataFrame, labels: pd.Series) -> str | None:
    """The baseline with the highest mean VALIDATION SRC (None if no baseline ran)."""
    b = preds[preds["family"] == "baseline"]
    if b.empty:
        return None
    t = model_table(b, labels, "val")
    return None if t.empty else str(t.sort_values(["src_mean", "model"], ascending=[False, True])["model"].iloc[0])


# ----------------------------------------------------------------------------- hybrid
def cross_fit_lgbm(X_val: pd.DataFrame, y_val, X_test: pd.DataFrame, params, seed: int,
                   folds: int, threads: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """K-fold cross-fitting on the val rows: fold k's LightGBM trains on the other folds and
    early-stops on fold k. Returns (out-of-fold val predictions, test predictions averaged
    over the K fold models). Only val labels are used."""
    from sklearn.model_selection import KFold

    from ..paper_a.boosting import fit_lgbm, predict

    y_val = np.asarray(y_val, dtype=float)
    oof = np.zeros(len(X_val))
    test = np.zeros(len(X_test))
    for tr, ho in KFold(int(folds), shuffle=True, random_state=int(seed)).split(X_val):
        m = fit_lgbm(X_val.iloc[tr], y_val[tr], X_val.iloc[ho], y_val[ho], params, seed, threads)
        oof[ho] = predict(m, X_val.iloc[ho])
        test += predict(m, X_test) / int(folds)
    return oof, test


def paper_a_features(profile: str, posts: pd.DataFrame, fingerprint: str, pca_dims) -> pd.DataFrame:
    """Paper A's LightGBM matrix as stage 05 builds it (metadata table of 05 + CLIPFT blocks
    of 03, PCA fitted on the train rows), rows = ``posts`` (Pid order)."""
    from ..paper_a import boosting

    pids, split = posts["Pid"].to_numpy(), posts["split"].to_numpy()
    meta, _ = read_parquet(paths.data_dir(profile) / "features" / "metadata.parquet",
                           expect_fingerprint=fingerprint)
    meta = meta.set_index("Pid").reindex(pids)
    clipft, _ = boosting.load_blocks(profile, "clipft", pids, fingerprint, exclude=["cls_loss"])
    return boosting.feature_matrix(meta.reset_index(drop=True), clipft, pca_dims, pids=pids,
                                   train_mask=split == "train")


def hybrid_predictions(X: pd.DataFrame, posts: pd.DataFrame, preds: pd.DataFrame, params,
                       base_seed: int, folds: int, threads: int | None = None) -> pd.DataFrame:
    """Hybrid and control rows (val OOF + test) for every JRPP seed: see the module doc."""
    split = posts["split"].to_numpy()
    va, te = split == "val", split == "test"
    pid_va, pid_te = posts["Pid"].to_numpy()[va], posts["Pid"].to_numpy()[te]
    y_va = posts["label"].to_numpy(dtype=float)[va]
    out = []
    seeds = sorted(preds.loc[preds["model"] == JRPP, "seed"].unique())
    for i, s in enumerate(seeds):
        lgb_seed = int(base_seed) + int(i)
        cols = {}
        for name, model in (("jrpp_pred", JRPP), ("jrpp_pred_no_tta", JRPP_NO_TTA)):
            p = preds[(preds["model"] == model) & (preds["seed"] == s)].set_index("Pid")["y_pred"]
            cols[name] = p.reindex(posts["Pid"]).to_numpy(dtype=float)
        if np.isnan(cols["jrpp_pred"][va | te]).any():
            raise KeyError(f"JRPP seed {s}: val/test predictions missing for some posts")
        Xh = X.assign(**cols)
        for model, Xm in ((HYBRID, Xh), (HYBRID_CONTROL, X)):
            oof, test = cross_fit_lgbm(Xm[va], y_va, Xm[te], params, lgb_seed, folds, threads)
            out += [pd.DataFrame({"model": model, "family": "hybrid", "seed": int(s), "Pid": pid_va,
                                  "split": "val", "y_pred": oof}),
                    pd.DataFrame({"model": model, "family": "hybrid", "seed": int(s), "Pid": pid_te,
                                  "split": "test", "y_pred": test})]
    return pd.concat(out, ignore_index=True) if out else pd.DataFrame(columns=preds.columns)


# ----------------------------------------------------------------------------- claims
def claims(models: set[str], best_base: str | None) -> list[tuple[str, str, str]]:
    """(claim, A, B) pairs for the improvements the papers (or this study's hybrid) claim,
    kept when both rows exist."""
    c = []
    if best_base:
        c += [(f"JRPP beats the best baseline ({best_base})", JRPP, best_base),
              (f"Paper A (LightGBM) beats the best baseline ({best_base})", PAPER_A_LGBM, best_base),
              (f"Paper A (CatBoost) beats the best baseline ({best_base})", PAPER_A_CAT, best_base)]
    c += [("JRPP beats Paper A (LightGBM)", JRPP, PAPER_A_LGBM),
          ("Paper A (LightGBM) beats JRPP", PAPER_A_LGBM, JRPP),
          ("JRPP's test-time perturbation helps", JRPP, JRPP_NO_TTA),
          ("Paper A: CLIPFT features add to metadata", PAPER_A_LGBM, PAPER_A_META),
          ("Paper A: boosting beats direct regression", PAPER_A_LGBM, BOOSTING_ROWS[("direct", "neural head")]),
          ("Paper A: boosting beats direct regression given the same metadata", PAPER_A_LGBM,
           BOOSTING_ROWS[("direct_meta", "neural head")]),
          ("Hybrid beats JRPP", HYBRID, JRPP),
          ("Hybrid beats Paper A (LightGBM)", HYBRID, PAPER_A_LGBM),
          ("JRPP's prediction adds to Paper A's features (hybrid vs control)", HYBRID, HYBRID_CONTROL)]
    return [x for x in c if x[1] in models and x[2] in models]


def significance_table(preds: pd.DataFrame, labels: pd.Series, pairs, n_boot: int, seed: int,
                       alpha: float) -> pd.DataFrame:
    """One row per claim and metric: observed values, improvement, CI, one-sided p."""
    test_pids = np.sort(preds.loc[preds["split"] == "test", "Pid"].unique())
    y = labels.reindex(test_pids).to_numpy(dtype=float)
    mats = {m: prediction_matrix(preds, m, test_pids) for _, a, b in pairs for m in (a, b)}
    return pd.DataFrame(significance.claim_rows(y, mats, pairs, n_boot=n_boot, seed=seed, alpha=alpha))


# ----------------------------------------------------------------------------- report
ORDER = ("oracle", "Paper A", "JRPP", "hybrid", "baseline")


def report_rows(table: pd.DataFrame, best_base: str | None, all_baselines: bool = False) -> pd.DataFrame:
    """Models in report order (oracle, Paper A, JRPP, hybrid, baselines: the best one only
    unless ``all_baselines``), with a ``note`` column marking the best baseline."""
    t = table.copy()
    t["note"] = np.where(t["model"] == best_base, "best baseline (val SRC)", "")
    if not all_baselines:
        t = t[(t["family"] != "baseline") | (t["model"] == best_base)]
    t["_o"] = t["family"].map({f: i for i, f in enumerate(ORDER)})
    return t.sort_values(["_o", "src_mean"], ascending=[True, False], kind="stable").drop(columns="_o")


def format_models(t: pd.DataFrame) -> pd.DataFrame:
    out = t[["model", "family", "seeds"]].copy()
    for k in ("src", "mae", "mse"):
        out[k.upper()] = [mean_std_cell(m, s) for m, s in zip(t[f"{k}_mean"], t[f"{k}_std"])]
    out["note"] = t["note"].to_numpy()
    return out


def format_tests(s: pd.DataFrame) -> pd.DataFrame:
    """Wide: one row per claim, per metric the improvement [CI] and p."""
    rows = []
    for claim, g in s.groupby("claim", sort=False):
        row = {"claim": claim}
        for _, r in g.iterrows():
            k = r["metric"].upper()
            row[f"{k} gain [CI]"] = significance.interval_cell(r["improvement"], r["ci_low"], r["ci_high"])
            row[f"p ({k})"] = f"{r['p_value']:.4f}"
        rows.append(row)
    return pd.DataFrame(rows)


def caption(dataset: str, n_test: int, n_boot: int, alpha: float, folds: int, best_base) -> str:
    return (f"Head-to-head on one split (random 8:1:1) and the same {n_test} test posts, "
            f"{with_note(dataset)}. "   # dataset: data.prepare.dataset_label
            "SRC / MAE / MSE as mean ± std over seeds. Best baseline chosen by validation SRC"
            f" ({best_base}). Hybrid and control: LightGBM with Paper A's hyper-parameters fitted "
            f"on the validation posts with {folds}-fold cross-fitting (JRPP writes no train-post "
            "predictions), test predictions averaged over the fold models. "
            f"Significance: paired bootstrap over the test posts ({n_boot} resamples), gain > 0 "
            f"means A better, {1 - alpha:.0%} percentile CI, one-sided p for 'A better than B'.")


def plot_src(t: pd.DataFrame, title: str, oracle: float | None = None):
    """Horizontal bars of test SRC (mean over seeds, error bars = std over seeds), axis from
    0; the oracle ceiling (when given) as a dashed line."""
    from matplotlib import pyplot as plt

    t = t[t["family"] != "oracle"]
    fig, ax = plt.subplots(figsize=(8, 0.45 * len(t) + 1.4))
    colors = {"Paper A": "tab:blue", "JRPP": "tab:orange", "hybrid": "tab:green", "baseline": "tab:gray"}
    names = [f"{m} (best baseline)" if n else m for m, n in zip(t["model"], t.get("note", [""] * len(t)))]
    ax.barh(names, t["src_mean"], xerr=t["src_std"], capsize=3,
            color=[colors.get(f, "tab:gray") for f in t["family"]])
    ax.invert_yaxis()
    xlabel = "test SRC (mean ± std over seeds)"
    if oracle is not None:
        ax.axvline(oracle, color="k", ls="--", lw=1)
        xlabel += f"; dashed: oracle ceiling {oracle:.3f}"
    ax.set_xlim(left=0)
    ax.set_xlabel(xlabel)
    ax.set_title(title, fontsize=10)
    ax.tick_params(labelsize=9)
    fig.tight_layout()
    return fig
