"""Tables, significance, figure, metrics and the challenge submission of the SMP-Video arm
(``analysis.smp_video`` runs the rows; this module reports them).

* ``table2_smp_video``: JRPP Table 2's layout on a second real dataset - one row per model
  (Table 2's baselines in the paper's order, then this study's rows), MSE / MAE / SRC as
  mean ± std over seeds for each split protocol; rows that cannot run say why ("n/a: needs
  images/categories").
* ``head_to_head_smp_video``: each claim of :func:`claims` ("A beats B") per protocol, tested by
  the paired bootstrap over the test posts (``analysis.significance.claim_rows``: one-sided p,
  a seeded row enters as its seeds' matrix), for SRC and MSE, with the Benjamini-Hochberg q
  over every test of the table (``scipy.stats.false_discovery_control``).
* One figure: test SRC per row and protocol. ``metrics/smp_video.json`` (sorted keys).
* The submission: a model refitted on every labelled post (the latest ``chrono_val_frac`` as
  early-stopping validation) predicts the official unlabelled test posts; written as the
  challenge's ``pid,popularity_score`` CSV after ``analysis.submission.validated_scores``'s
  checks (one finite prediction per official test post, no other post).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ..core.io import atomic_path
from ..core.metrics import regression_metrics, summarize_seeds
from ..core.reports import mean_std_cell
from . import smp_video as A
from .significance import interval_cell

METRICS = ("mse", "mae", "src")
SIG_METRICS = ("src", "mse")


# ----------------------------------------------------------------------------- naming
def dataset_name(profile: str | None = None) -> str:
    """The dataset's name for captions: ``data.prepare.dataset_label`` when it knows the
    source, else "SMP-Video" (the label of the source ``smp_video``)."""
    if profile is not None:
        try:
            from ..data.prepare import dataset_label

            return dataset_label(profile).split(" (")[0]
        except (ValueError, FileNotFoundError, KeyError):
            pass
    return "SMP-Video"


def dataset_caption(n_posts: int, profile: str | None = None) -> str:
    """'SMP-Video (real, 4,000 posts, text + metadata, no video frames)', counts from the data."""
    return f"{dataset_name(profile)} (real, {int(n_posts):,} posts, text + metadata, no video frames)"


# ----------------------------------------------------------------------------- tables
def summary_table(results: dict) -> pd.DataFrame:
    """One row per (scheme, model): seeds, mean and std over seeds of each test metric."""
    out = []
    for scheme, r in results.items():
        for model in A.ROWS:
            if model not in r["preds"]:
                continue
            per = [regression_metrics(r["y"]["test"], p) for p in r["preds"][model]["test"]]
            out.append({"scheme": scheme, "model": model, "group": A.GROUPS[model], "seeds": len(per),
                        "n_test": len(r["y"]["test"]), **summarize_seeds(per, METRICS)})
    return pd.DataFrame(out)


def table2(summary: pd.DataFrame, results: dict, digits: int = 4) -> pd.DataFrame:
    """Table 2's layout: one row per model in :data:`smp_video.ROWS` order plus the n/a rows,
    per protocol MSE / MAE / SRC cells; a note (not run / n/a reasons, placeholder image, ...)."""
    schemes = list(results)
    idx = summary.set_index(["scheme", "model"])
    rows = []
    for model in A.ROWS:
        row = {"group": A.GROUPS[model], "model": model}
        notes = set()
        for s in schemes:
            if (s, model) in idx.index:
                r = idx.loc[(s, model)]
                for m in METRICS:
                    row[f"{s} {m.upper()}"] = mean_std_cell(r[f"{m}_mean"], r[f"{m}_std"], digits)
                row["seeds"] = int(r["seeds"])
                if model in results[s]["notes"]:
                    notes.add(results[s]["notes"][model] if model != A.RIDGE else "alpha chosen on val")
            else:
                for m in METRICS:
                    row[f"{s} {m.upper()}"] = "-"
                if model in results[s]["not_run"]:
                    notes.add(results[s]["not_run"][model])
        if all(row[f"{s} SRC"] == "-" for s in schemes) and not notes:
            continue
        row.setdefault("seeds", 0)
        if model == A.JRPP:
            notes = {"; ".join(f"{s}: {results[s]['notes'].get(model, '')}" for s in schemes)}
        row["note"] = "; ".join(sorted(notes))
        rows.append(row)
    for model, why in {**A.NOT_APPLICABLE, "CLIP text embedding rows": "n/a: no real CLIP checkpoint configured "
                       "(the study's own small CLIP was trained on simulated posts)"}.items():
        rows.append({"group": "not applicable", "model": model,
                     **{f"{s} {m.upper()}": "-" for s in schemes for m in METRICS}, "seeds": 0, "note": why})
    cols = ["group", "model"] + [f"{s} {m.upper()}" for s in schemes for m in METRICS] + ["seeds", "note"]
    return pd.DataFrame(rows)[cols]


def table2_caption(label: str, results: dict, cfg, jcfg) -> str:
    sizes = "; ".join(f"{s}: {len(r['y']['train'])} train / {len(r['y']['val'])} val / {len(r['y']['test'])} test"
                      for s, r in results.items())
    return (f"Table 2 layout on {label}. Test metrics of each split protocol ({sizes}): random = JRPP's "
            f"seeded 8:1:1; chrono = the latest {cfg.chrono_test_frac:.0%} of the labelled posts by post time "
            f"as test, the latest {cfg.chrono_val_frac:.0%} before them as validation. Mean ± std over "
            f"{int(cfg.n_seeds)} seed(s) for seeded rows (seeds = 1: deterministic). Inputs: frozen "
            "all-MiniLM-L6-v2 embedding of post_content + suggested words, and metadata (user statistics, "
            "video metadata, time, language, country, counts, the user's out-of-fold mean label); no video "
            "frames, so the image input is empty. JRPP as shipped uses the jrpp section's knobs "
            f"(epochs {int(jcfg.epochs)}, lr {float(jcfg.lr):g}, k {int(jcfg.k)}, M {int(jcfg.n_mol)}, "
            f"T {int(jcfg.tta_T)}). Baselines marked 'image input: one constant-zero column' ran on text + "
            "metadata (their shared runner refuses a zero-width image). Negative control rows: the train "
            "labels permuted within the retrieval bank (one permutation per seed). Lower is better for "
            "MSE/MAE, higher for SRC.")


def best_baseline(results: dict, scheme: str) -> str | None:
    """The Table-2 baseline with the best mean VALIDATION SRC on ``scheme`` (None if none ran)."""
    r = results[scheme]
    best = None
    for b in A.BASELINES:
        if b not in r["preds"]:
            continue
        src = float(np.mean([regression_metrics(r["y"]["val"], p)["src"] for p in r["preds"][b]["val"]]))
        if best is None or src > best[0]:
            best = (src, b)
    return None if best is None else best[1]


# ----------------------------------------------------------------------------- claims
def claims(models, best_base: str | None) -> list[tuple[str, str, str]]:
    """(claim, A, B) for the mechanisms the papers claim, read on real posts; kept when both
    rows exist. The last four are the negative control and its positive counterpart."""
    c = []
    if best_base:
        c += [(f"JRPP beats the best baseline ({best_base})", A.JRPP, best_base),
              (f"Paper A's regressor family beats the best baseline ({best_base})", A.GBDT, best_base)]
    c += [("JRPP beats Paper A's regressor family", A.JRPP, A.GBDT),
          ("Paper A's regressor family beats JRPP", A.GBDT, A.JRPP),
          ("text adds to metadata (LightGBM)", A.GBDT, A.META_GBDT),
          ("boosting beats direct regression on the same inputs", A.GBDT, A.DIRECT),
          ("learned retrieval (JRPP) beats fixed kNN retrieval", A.JRPP, A.KNN),
          ("information-matched JRPP beats ridge on its own inputs", A.JRPP_CU, A.RIDGE),
          ("time-aware retrieval beats time-blind", A.KNN_TIME, A.KNN),
          ("JRPP's test-time perturbation helps", A.JRPP, A.JRPP_NO_TTA),
          ("JRPP's prediction adds to the GBDT features (hybrid vs control)", A.HYBRID, A.HYBRID_CONTROL),
          ("retrieved labels add to the GBDT (hybrid vs GBDT)", A.HYBRID_KNN, A.GBDT),
          ("content beats identity (ridge vs user mean)", A.RIDGE, A.USER_MEAN),
          ("retrieval beats identity (kNN vs user mean)", A.KNN, A.USER_MEAN),
          ("kNN reads its neighbours' labels (vs shuffled bank labels)", A.KNN, A.KNN_SHUF),
          ("JRPP reads its neighbours' labels (vs shuffled bank labels)", A.JRPP_NO_TTA, A.JRPP_SHUF),
          ("negative control: kNN on shuffled bank labels beats the train mean", A.KNN_SHUF, A.TRAIN_MEAN),
          ("negative control: shuffled retrieved labels add to the GBDT", A.HYBRID_KNN_SHUF, A.GBDT)]
    models = set(models)
    return [x for x in c if x[1] in models and x[2] in models]


def significance_table(results: dict, n_boot: int, seed: int, alpha: float = 0.05,
                       metrics=SIG_METRICS) -> pd.DataFrame:
    """One row per (scheme, claim, metric): the paired bootstrap of "A beats B" on the scheme's
    test posts (the same resamples for every claim of a scheme) and ``q_bh`` over all rows."""
    from scipy.stats import false_discovery_control

    from .significance import claim_rows

    out = []
    for scheme, r in results.items():
        pairs = claims(r["preds"], best_baseline(results, scheme))
        preds = {m: r["preds"][m]["test"] for _, a, b in pairs for m in (a, b)}
        out += [{"scheme": scheme, **row} for row in claim_rows(r["y"]["test"], preds, pairs, metrics,
                                                               n_boot=int(n_boot), seed=int(seed), alpha=alpha)]
    table = pd.DataFrame(out)
    if len(table):
        table["q_bh"] = false_discovery_control(table["p_value"].to_numpy(), method="bh")
    return table


def head_to_head_display(sig: pd.DataFrame, alpha: float = 0.05, digits: int = 4) -> pd.DataFrame:
    """One row per (claim, scheme): per metric the improvement [CI], p and q; 'holds' when
    q < alpha on SRC."""
    rows = []
    for (scheme, claim), g in sig.groupby(["scheme", "claim"], sort=False):
        row = {"scheme": scheme, "claim (A beats B)": claim}
        for _, r in g.iterrows():
            k = r["metric"].upper()
            row[f"{k} gain [CI]"] = interval_cell(r["improvement"], r["ci_low"], r["ci_high"], digits)
            row[f"p ({k})"] = round(float(r["p_value"]), 4)
            row[f"q ({k})"] = round(float(r["q_bh"]), 4)
        src = g[g["metric"] == "src"]
        row["holds (q < %.2g on SRC)" % alpha] = "yes" if len(src) and float(src["q_bh"].iloc[0]) < alpha else "no"
        rows.append(row)
    return pd.DataFrame(rows)


def head_to_head_caption(label: str, n_boot: int, alpha: float, results: dict) -> str:
    best = ", ".join(f"{s}: {best_baseline(results, s)}" for s in results)
    return (f"Head-to-head on {label}: the papers' and this study's claims tested on real posts. "
            f"Per protocol, a one-sided paired bootstrap over the protocol's test posts ({n_boot} "
            "resamples; a seeded row enters as the mean over its seeds of the metric on each resample); "
            f"gain > 0 means A better (SRC A - B, MSE B - A), {1 - alpha:.0%} percentile CI; q: "
            "Benjamini-Hochberg adjusted p over every test of the table (both protocols, SRC and MSE). "
            f"Best baseline chosen by validation SRC ({best}). Negative control: the train labels "
            "permuted within the retrieval bank; retrieval that reads labels must lose its edge there, "
            "and the shuffled rows must not beat their label-free references.")


# ----------------------------------------------------------------------------- figure
def plot_src(summary: pd.DataFrame, label: str):
    """Horizontal bars of test SRC (mean ± std over seeds) per row, one bar per protocol,
    the value axis from 0 (below only for a negative SRC)."""
    from matplotlib import pyplot as plt

    schemes = list(dict.fromkeys(summary["scheme"]))
    models = [m for m in A.ROWS if m in set(summary["model"])]
    idx = summary.set_index(["scheme", "model"])
    fig, ax = plt.subplots(figsize=(9, 0.42 * len(models) + 1.6))
    h = 0.8 / max(len(schemes), 1)
    y = np.arange(len(models))
    colors = {"random": "tab:blue", "chrono": "tab:orange"}
    for j, s in enumerate(schemes):
        mean = [idx["src_mean"].get((s, m), np.nan) for m in models]
        std = [idx["src_std"].get((s, m), 0.0) for m in models]
        ax.barh(y - 0.4 + h * (j + 0.5), mean, h, xerr=std, capsize=2, label=f"{s} split",
                color=colors.get(s, None), alpha=0.9)
    ax.set_yticks(y, models, fontsize=8)
    ax.invert_yaxis()
    lo = min(0.0, float(np.nanmin(summary["src_mean"] - summary["src_std"])))
    ax.set_xlim(lo, max(0.05, float(np.nanmax(summary["src_mean"] + summary["src_std"])) * 1.08))
    ax.axvline(0, color="grey", lw=0.6)
    ax.set_xlabel("test SRC (mean ± std over seeds)")
    ax.legend(fontsize=8, loc="lower right")
    ax.set_title(f"{label}: test SRC by model and split protocol", fontsize=10)
    fig.tight_layout()
    return fig


# ----------------------------------------------------------------------------- metrics
def _r(v: float) -> float:
    return round(float(v), 6)


def metrics_json(summary: pd.DataFrame, sig: pd.DataFrame, results: dict, prepared: dict, cfg, jcfg,
                 label: str) -> dict:
    res: dict = {}
    for r in summary.to_dict("records"):
        res.setdefault(r["scheme"], {})[r["model"]] = {
            **{k: _r(r[k]) for k in r if k.endswith(("_mean", "_std"))}, "seeds": int(r["seeds"])}
    held: dict = {}
    claims_out: dict = {}
    for r in sig.to_dict("records"):
        claims_out.setdefault(r["scheme"], {}).setdefault(r["claim"], {})[r["metric"]] = {
            "improvement": _r(r["improvement"]), "ci_low": _r(r["ci_low"]), "ci_high": _r(r["ci_high"]),
            "p_value": _r(r["p_value"]), "q_bh": _r(r["q_bh"])}
        if r["metric"] == "src":
            held.setdefault(r["claim"], [])
            if r["q_bh"] < float(cfg.alpha):
                held[r["claim"]].append(r["scheme"])
    rep = prepared["report"]
    return {"dataset": label, "data_fingerprint": prepared["data_fp"],
            "split_fingerprints": {s: r["fingerprint"] for s, r in results.items()},
            "split_sizes": rep["split_sizes"], "chrono_test_from": rep["chrono_test_from"],
            "posts": {"labelled": int(prepared["posts"]["label"].notna().sum()),
                      "unlabelled_test": int(prepared["posts"]["label"].isna().sum()),
                      "users": int(prepared["posts"]["Uid"].nunique())},
            "n_seeds": int(cfg.n_seeds), "n_boot": int(cfg.n_boot), "results": res,
            "not_run": {s: dict(sorted(r["not_run"].items())) for s, r in results.items()},
            "best_baseline_by_val_src": {s: best_baseline(results, s) for s in results},
            "significance": {"claims": claims_out, "held_on_src_at_q": held, "alpha": float(cfg.alpha)},
            "jrpp": {k: getattr(jcfg, k) for k in ("epochs", "lr", "batch_size", "k", "n_mol", "tta_T", "patience")}}


# ----------------------------------------------------------------------------- submission
SUBMISSION_COLUMNS = ("pid", "popularity_score")


def submission_splits(posts: pd.DataFrame, chrono_val_frac: float) -> pd.DataFrame:
    """``posts`` (all, labelled and not) with ``split``: the official unlabelled test posts are
    ``test``; of the labelled posts the latest ``chrono_val_frac`` by time are ``val`` (early
    stopping), the rest ``train``."""
    from ..data.splits import chrono_split

    out = posts.copy()
    lab = out[out["label"].notna()]
    assign = chrono_split(lab, float(chrono_val_frac), 0.0)
    out["split"] = out["Pid"].map(assign).astype(object)
    out.loc[out["label"].isna(), "split"] = "test"
    return out


def official_predictions(prepared: dict, cfg, jcfg=None, seed: int | None = None) -> pd.DataFrame:
    """The ``submission_model`` (lgbm | catboost: metadata + text, as the table's rows) refitted
    on every labelled post and predicting the official test posts: DataFrame Pid / pid / y_pred."""
    from ..paper_a.boosting import fit_catboost, fit_lgbm, predict

    posts = submission_splits(prepared["posts"], cfg.chrono_val_frac).reset_index(drop=True)
    emb = prepared["emb"]
    tr = (posts["split"] == "train").to_numpy()
    from ..data import smp_video_inputs as I

    meta = I.metadata_features(posts, int(cfg.oof_folds), int(cfg.seed))
    X = A.gbdt_matrix(meta, emb, tr, int(cfg.pca_dims))
    split = posts["split"].to_numpy()
    fit = {"lgbm": fit_lgbm, "catboost": fit_catboost}[str(cfg.submission_model).lower()]
    y = posts["label"].to_numpy(dtype=float)
    model = fit(X[split == "train"], y[split == "train"], X[split == "val"], y[split == "val"],
                A.gbdt_params(cfg), int(cfg.seed if seed is None else seed))
    te = split == "test"
    return pd.DataFrame({"Pid": posts.loc[te, "Pid"].to_numpy(), "pid": posts.loc[te, "pid"].to_numpy(),
                         "y_pred": predict(model, X[te])})


def write_submission(preds: pd.DataFrame, posts: pd.DataFrame, out) -> Path:
    """The challenge's CSV ``pid,popularity_score`` (one row per official test post, in the
    posts file's Pid order, 4 decimals), atomically, after ``analysis.submission``'s checks."""
    from .submission import official_test_pids, validated_scores

    scores = validated_scores(preds[["Pid", "y_pred"]], official_test_pids(posts), "y_pred", "SMP-Video predictions")
    pid_of = posts.set_index("Pid")["pid"]
    df = pd.DataFrame({"pid": pid_of.reindex(scores.index).to_numpy(), "popularity_score": scores.to_numpy()})
    out = Path(out)
    with atomic_path(out, suffix=".csv") as tmp:
        df.to_csv(tmp, index=False, float_format="%.4f")
    return out
