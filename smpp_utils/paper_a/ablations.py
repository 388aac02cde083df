"""Paper A ablations (notebook 10): which parts of the dual-grained, prototype-augmented
features matter, what the loss-based sample selection buys, what oversampling the tail does,
and where (per category) the model errs.

* **Branch ablation, at the feature level.** Stage 03 trains ONE dual model and writes its
  feature blocks (``features/clipft.npz``: image, text, global, local, enhanced, probs). The
  rows here drop blocks of that one model before LightGBM; no prompt model is retrained per
  row, so "global only" means "the global-prompt feature of the dual model", not a model
  trained with global prompts only (that would be a separate stage-03 run per row). Nested
  design, every row = metadata + the CLIPFT image and text features + ...:

  - ``no_branch``: nothing else;           - ``global_only``: + global;
  - ``local_only``: + local;               - ``no_prototypes``: + global + local;
  - ``dual`` (Paper A): + global + local + enhanced + probs;
  - ``raw_tags``: + global + local + a stage-02 embedding of the post's own title + tags
    (``raw_text_emb``) in place of the prototype-derived blocks.

  ``enhanced`` is the prototype cross-attention output (Eq. 6) and ``probs`` the softmax of
  the mean of the global, local and enhanced logits, so both depend on the prototypes and go
  together.
* **Branch ablation, retrained** (:mod:`.branch_retrain`, ``retrain_branches``): the prompt
  model trained again with only the global (``global_retrained``) or only the local
  (``local_retrained``) prompt loss; metadata + that model's image, text and branch features.
* **Encoder.** Frozen CLIP + MiniLM (stage 02) against CLIPFT, both on all train rows, and
  stage 03's direct regression (CLIP fine-tuned end to end on popularity).
* **Sample selection.** Loss-selected ``select_frac`` of the train posts (the paper's 77%,
  ``boosting.train_selection``) against all train posts and against a random ``select_frac``
  of them (redrawn per seed, :func:`random_train_selection`).
* **Tail oversampling** (Paper A's discussion, posts above ``tail.tail_threshold``): the
  loss-selected train posts above the threshold repeated ``oversample_factor`` times
  (:func:`oversample_index`).
* **Per-category MAE** of the paper's model against metadata only (:func:`category_mae`).

Rows stage 05 already fitted with the same knobs and seeds (dual, all posts, frozen CLIP,
metadata) are read from ``predictions/boosting.parquet``, not refitted; one refit of the dual
row (first seed) checks that this stage's matrices reproduce 05's predictions
(:func:`consistency_gap`). Everything else is fitted here with ``paper_a.boosting``'s
``run_variant`` (same LightGBM/CatBoost settings, val early stopping).
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable, Mapping

import numpy as np
import pandas as pd

from ..core import paths
from ..core.io import read_parquet
from ..core.metrics import regression_metrics, summarize_seeds
from ..core.reports import mean_std_cell
from ..data.provenance import with_note
from .boosting import INPUTS, run_variant, summarize

SHARED = ("clipft_image", "clipft_text")          # in every branch row
GLOBAL, LOCAL = ("clipft_global",), ("clipft_local",)
PROTOTYPE = ("clipft_enhanced", "clipft_probs")    # both depend on the prototypes (Eq. 6)

# row -> stage 05 variant whose predictions it reads (same knobs, same seeds)
FROM_STAGE05 = {"dual": "clipft", "all_posts": "clipft_all", "clip_frozen": "clip_frozen",
                "metadata": "metadata"}

LABELS = {
    "dual": "Paper A: dual (all CLIPFT blocks: image, text, global, local, enhanced, probs)",
    "no_branch": "image + text only (no prompt branch, no prototypes)",
    "global_only": "global branch only (image + text + global)",
    "local_only": "local branch only (image + text + local)",
    "global_retrained": ("global prompts only, RETRAINED (image + text + global of a model trained "
                         "with the global loss only)"),
    "local_retrained": ("local prompts only, RETRAINED (image + text + local of a model trained "
                        "with the local loss only)"),
    "no_prototypes": "w/o prototypes (image + text + global + local)",
    "noproto_retrained": ("w/o prototypes, RETRAINED (image + text + global + local of a model trained "
                          "without the prototype branch's loss)"),
    "raw_tags": "raw user tags instead of prototypes (image + text + global + local + {raw})",
    "rawtags_retrained": ("raw user tags instead of textual prototypes, RETRAINED (all blocks of a dual "
                          "model whose cross-attention reads the post's own {raw} in place of the "
                          "textual prototypes)"),
    "clip_frozen": "frozen CLIP image/text + MiniLM text (stage 02), all train posts",
    "all_posts": "dual, all train posts (no selection)",
    "random_frac": "dual, random {pct} of train posts (redrawn per seed)",
    "direct": "direct regression (image + text, CLIP fine-tuned on popularity; stage 03)",
    "direct_meta": "direct regression (image + text + metadata; stage 03)",
    "metadata": "metadata only (no content features)",
}
GROUPS = {"dual": "reference", "no_branch": "branches", "global_only": "branches",
          "local_only": "branches", "no_prototypes": "branches", "raw_tags": "text prototypes",
          "global_retrained": "branches (retrained)", "local_retrained": "branches (retrained)",
          "noproto_retrained": "branches (retrained)", "rawtags_retrained": "text prototypes (retrained)",
          "clip_frozen": "encoder", "direct": "encoder", "direct_meta": "encoder",
          "all_posts": "sample selection", "random_frac": "sample selection", "metadata": "reference"}
# row order of the ablation table
ORDER = ("dual", "global_only", "local_only", "global_retrained", "local_retrained", "no_prototypes",
         "noproto_retrained", "no_branch", "raw_tags", "rawtags_retrained", "all_posts", "random_frac",
         "clip_frozen", "direct", "direct_meta", "metadata")


# ----------------------------------------------------------------------------- inputs
def required_inputs(profile: str, raw_text_emb: str, retrain: bool = False) -> dict[str, str]:
    """{path: the stage that writes it} of every file this stage reads (``retrain``: also
    what the retrained branch rows train on)."""
    d = paths.data_dir(profile)
    emb = raw_text_emb.split(":")[0]
    train = {}
    if retrain:
        from ..embed.encoders import clip_checkpoint_path

        train = {str(d / "prototypes.npz"): "prototypes (notebooks/02_prototypes.ipynb)",
                 str(clip_checkpoint_path(profile)): "prototypes (notebooks/02_prototypes.ipynb)"}
    return {**train, str(d / "posts.parquet"): "data (notebooks/01_data.ipynb)",
            str(d / "splits.parquet"): "data (notebooks/01_data.ipynb)",
            str(d / "emb" / f"{emb}.npz"): "prototypes (notebooks/02_prototypes.ipynb)",
            str(d / INPUTS["clipft"][0]): INPUTS["clipft"][1],
            str(d / INPUTS["direct"][0]): INPUTS["direct"][1],
            str(d / "features" / "metadata.parquet"): "boosting (notebooks/05_boosting.ipynb)",
            str(d / "predictions" / "boosting.parquet"): "boosting (notebooks/05_boosting.ipynb)"}


def check_inputs(profile: str, raw_text_emb: str, retrain: bool = False) -> None:
    """Fail before any work, naming every missing input file and the stage that writes it."""
    missing = [f"  {p}  <- written by stage {s}" for p, s in
               required_inputs(profile, raw_text_emb, retrain).items() if not Path(p).is_file()]
    if missing:
        raise FileNotFoundError("paper_a_ablations stage: input files are missing; run the "
                                "stages that write them first (dvc repro):\n" + "\n".join(missing))


def read_metadata(profile: str, pids, fingerprint: str) -> pd.DataFrame:
    """Stage 05's metadata table (``features/metadata.parquet``) in ``pids`` order."""
    path = paths.data_dir(profile) / "features" / "metadata.parquet"
    meta, _ = read_parquet(path, expect_fingerprint=fingerprint)
    pos = pd.Index(meta["Pid"]).get_indexer(np.asarray(pids))
    if (pos < 0).any():
        raise KeyError(f"{path}: {(pos < 0).sum()} Pids missing, e.g. {np.asarray(pids)[pos < 0][:5].tolist()}")
    return meta.iloc[pos].drop(columns="Pid").reset_index(drop=True)


def load_raw_text(profile: str, spec: str, pids, fingerprint: str) -> dict[str, np.ndarray]:
    """{'<file>_<array>': embedding} of a stage-02 ``file:array`` (``raw_text_emb``), rows in
    ``pids`` order, checked against the split fingerprint."""
    from ..core.io import load_arrays

    name, array = spec.split(":")
    path = paths.data_dir(profile) / "emb" / f"{name}.npz"
    _, arrays, _ = load_arrays(path, expect_fingerprint=fingerprint, pids=pids)
    if array not in arrays:
        raise KeyError(f"{path}: no array {array!r} (raw_text_emb {spec!r}); it has {sorted(arrays)}")
    return {f"{name}_{array}": arrays[array]}


# ----------------------------------------------------------------------------- rows
def variant_blocks(raw_block: str) -> dict[str, tuple[str, ...]]:
    """Feature blocks (beyond metadata) of each branch row; ``raw_block`` e.g. 'minilm_text'."""
    return {"dual": SHARED + GLOBAL + LOCAL + PROTOTYPE, "no_branch": SHARED,
            "global_only": SHARED + GLOBAL, "local_only": SHARED + LOCAL,
            "no_prototypes": SHARED + GLOBAL + LOCAL,
            "raw_tags": SHARED + GLOBAL + LOCAL + (raw_block,)}


def block_of(column: str) -> str:
    """'clipft_global_007' -> 'clipft_global'; a metadata column -> ''."""
    head, _, tail = column.rpartition("_")
    return head if tail.isdigit() and head else ""


def variant_columns(X: pd.DataFrame, blocks: Iterable[str]) -> list[str]:
    """Metadata columns plus every column of ``blocks``, in ``X``'s order; a block with no
    column in ``X`` is an error (a row would silently lose it)."""
    blocks = tuple(blocks)
    have = {block_of(c) for c in X.columns}
    absent = [b for b in blocks if b not in have]
    if absent:
        raise KeyError(f"feature blocks {absent} are not in the matrix; it has {sorted(have - {''})}")
    return [c for c in X.columns if block_of(c) in ("",) + blocks]


def random_train_selection(split, frac: float, seed: int) -> np.ndarray:
    """A random ``round(frac * n_train)`` of the train rows (seeded), the control of the
    loss-based selection; like ``boosting.train_selection``, val/test rows are always kept
    (the mask is True there and they are never train rows)."""
    if not 0.0 <= frac <= 1.0:
        raise ValueError(f"random_train_selection: frac must be in [0, 1], got {frac}")
    split = np.asarray(split)
    train = np.flatnonzero(split == "train")
    keep = split != "train"
    pick = np.random.default_rng(int(seed)).choice(train, int(round(frac * len(train))), replace=False)
    keep[pick] = True
    return keep


def oversample_index(y, split, sel, threshold: float, factor: int) -> np.ndarray:
    """Row positions of the oversampled data: every row once, then the train rows kept by
    ``sel`` (None = all) whose label is above ``threshold`` ``factor - 1`` more times.
    Val/test rows are never repeated; factor 1 = no oversampling."""
    if int(factor) != factor or factor < 1:
        raise ValueError(f"oversample_index: factor must be an integer >= 1, got {factor}")
    y, split = np.asarray(y, dtype=float), np.asarray(split)
    sel = np.ones(len(y), bool) if sel is None else np.asarray(sel, dtype=bool)
    tail = np.flatnonzero((split == "train") & sel & (y > threshold))
    return np.concatenate([np.arange(len(y))] + [tail] * (int(factor) - 1))


def fit_oversampled(X, y, split, sel, threshold, factor, regressor, seed, cfg, threads=None,
                    pids=None, name="oversampled") -> dict:
    """:func:`boosting.run_variant` on the rows of :func:`oversample_index`; the test rows
    (and their order) are the original ones."""
    idx = oversample_index(y, split, sel, threshold, factor)
    sel = None if sel is None else np.asarray(sel)[idx]
    return run_variant(name, X.iloc[idx].reset_index(drop=True), np.asarray(y)[idx],
                       np.asarray(split)[idx], sel, regressor, seed, cfg, threads=threads,
                       pids=None if pids is None else np.asarray(pids)[idx])


def fit_random_selection(X, y, split, frac: float, regressors: Iterable[str], seeds: Iterable[int],
                         cfg, threads=None, pids=None, name="random_frac") -> list[dict]:
    """The dual matrix on a random ``frac`` of the train posts, a fresh draw per seed (the
    seed of the draw = the seed of the fit); one line printed per fit, as ``run_all``."""
    out = []
    for reg in regressors:
        for seed in seeds:
            r = run_variant(name, X, y, split, random_train_selection(split, frac, seed), reg, seed,
                            cfg, threads=threads, pids=pids)
            m = r["metrics"]
            print(f"{name:12s} {reg:9s} seed {seed}: SRC {m['src']:.4f} MAE {m['mae']:.4f} "
                  f"MSE {m['mse']:.4f} ({r['best_iteration']} trees)")
            out.append(r)
    return out


def _result(variant, regressor, seed, test: pd.DataFrame, yhat, n_train=None) -> dict:
    return {"variant": variant, "regressor": regressor, "seed": seed,
            "metrics": regression_metrics(test["label"], yhat), "y_pred": np.asarray(yhat, float),
            "pids": test["Pid"].to_numpy(), "n_train": n_train, "n_features": None,
            "best_iteration": None, "fit_seconds": None, "importance": None}


def stage05_results(profile: str, posts: pd.DataFrame, fingerprint: str,
                    rows: Mapping[str, str], regressors: Iterable[str], seeds: Iterable[int],
                    n_train: Mapping[str, int] | None = None) -> list[dict]:
    """Results (``run_variant``'s shape, named by this stage's row) of the stage 05 fits in
    ``predictions/boosting.parquet``: ``rows`` maps row -> 05 variant. Every (variant,
    regressor, seed) asked for must be there with a prediction for every test post."""
    path = paths.data_dir(profile) / "predictions" / "boosting.parquet"
    df, _ = read_parquet(path, expect_fingerprint=fingerprint)
    test = posts.loc[posts["split"] == "test", ["Pid", "label"]]
    out = []
    for row, variant in rows.items():
        for reg in regressors:
            for seed in seeds:
                part = df[(df["variant"] == variant) & (df["regressor"] == reg) & (df["seed"] == seed)]
                pred = part.set_index("Pid")["y_pred"].reindex(test["Pid"])
                if pred.isna().any():
                    raise KeyError(f"{path}: variant {variant!r} {reg} seed {seed}: "
                                   f"{int(pred.isna().sum())} of {len(test)} test posts have no "
                                   "prediction; rerun stage boosting with the current params")
                out.append(_result(row, reg, int(seed), test, pred.to_numpy(),
                                   (n_train or {}).get(row)))
    return out


def rename(results: list[dict], variant: str) -> list[dict]:
    return [{**r, "variant": variant} for r in results]


def consistency_gap(a: dict, b: dict) -> float:
    """Largest |difference| of two results' test predictions (same Pids required)."""
    if not np.array_equal(a["pids"], b["pids"]):
        raise ValueError("consistency_gap: the two results cover different test posts")
    return float(np.max(np.abs(np.asarray(a["y_pred"]) - np.asarray(b["y_pred"]))))


def check_refit(gap: float, seed: int, tol: float = 1e-6) -> None:
    """Refitting stage 05's dual LightGBM here must give its predictions (``consistency_gap``
    up to ``tol``): otherwise ``predictions/boosting.parquet`` came from other inputs/knobs."""
    if gap > tol:
        raise ValueError(f"refitting stage 05's dual LightGBM (seed {seed}) differs from "
                         f"predictions/boosting.parquet by up to {gap:.3g}: that file was made from other "
                         "inputs or knobs; rerun stage boosting")


# ----------------------------------------------------------------------------- tables
def row_labels(raw_block: str, select_frac: float, fitted: Iterable[str]) -> tuple[dict, dict]:
    """(row label, training-row selection) per variant for :func:`ablation_frames`: the
    :data:`LABELS` with the raw-text block and the selection share filled in; ``fitted`` (the
    variants fitted on the loss selection) and "dual" are loss-selected, "random_frac" random."""
    pct = f"{select_frac:.0%}"
    labels = {**LABELS, "raw_tags": LABELS["raw_tags"].format(raw=raw_block),
              "rawtags_retrained": LABELS["rawtags_retrained"].format(raw=raw_block),
              "random_frac": LABELS["random_frac"].format(pct=pct)}
    selection = {**{v: f"loss-selected {pct}" for v in ("dual", *fitted)}, "random_frac": f"random {pct}"}
    return labels, selection


def _dataset_phrase(label: str, sim: bool) -> str:
    """``label`` (``data.prepare.dataset_label``) with the not-real-data note when simulated
    (the label says so; ``sim`` is kept for callers)."""
    return with_note(label)


def tail_caption(label: str, sim: bool, threshold: float, seeds) -> str:
    seeds = list(seeds)
    return (f"Table: Paper A tail oversampling, LightGBM on the dual features, {_dataset_phrase(label, sim)}"
            f". Train posts (loss-selected) with popularity > {threshold:g} repeated k times; "
            f"test metrics mean ± std over {len(seeds)} seed(s) {seeds}; tail = test posts above "
            f"the threshold; bias = mean(prediction - label) there. Factor 1 is stage 05's fit.")


def category_caption(label: str, sim: bool, seeds) -> str:
    seeds = list(seeds)
    return (f"Table: Paper A per-category test MAE, {_dataset_phrase(label, sim)}"
            f"; LightGBM, MAE per category and seed, mean ± std over {len(seeds)} seed(s) {seeds}; "
            "sorted by the dual model's MAE (hardest first). Predictions of stage 05.")


def _cell(s: Mapping, key: str) -> str:
    return f"{s[f'{key}_mean']:.4f}" if s["n_seeds"] < 2 else mean_std_cell(s[f"{key}_mean"], s[f"{key}_std"])


def ablation_frames(results: list[dict], order: Iterable[str], labels: Mapping[str, str],
                    selection: Mapping[str, str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(report table with 'mean ± std' cells, numeric table) of the ablation rows in
    ``order``, one row per (row, regressor); ΔSRC / ΔMAE against the dual row of the same
    regressor (mean over seeds)."""
    summ = summarize(results)
    shown, nums = [], []
    for v in order:
        for reg, s in summ.get(v, {}).items():
            ref = summ.get("dual", {}).get(reg) or summ.get("dual", {}).get("LightGBM")
            d_src = s["src_mean"] - ref["src_mean"] if ref else np.nan
            d_mae = s["mae_mean"] - ref["mae_mean"] if ref else np.nan
            base = {"group": GROUPS.get(v, ""), "row": v, "features": labels.get(v, v),
                    "train posts": selection.get(v, "all"),
                    "n_train": "-" if s["n_train"] is None else str(s["n_train"]),
                    "regressor": reg, "seeds": s["n_seeds"]}
            shown.append({**base, **{k.upper(): _cell(s, k) for k in ("src", "mae", "mse")},
                          "ΔSRC vs dual": f"{d_src:+.4f}", "ΔMAE vs dual": f"{d_mae:+.4f}"})
            nums.append({**base, **{f"{k}_{m}": s[f"{k}_{m}"] for k in ("src", "mae", "mse")
                                    for m in ("mean", "std")},
                         "delta_src": d_src, "delta_mae": d_mae})
    return pd.DataFrame(shown), pd.DataFrame(nums)


def ablation_caption(label: str, sim: bool, regressors, n_test: int, seeds, n_selected: int,
                     n_train: int, frac: float, raw_block: str, pca_dims) -> str:
    pca = f" Embedding blocks reduced to {pca_dims} PCA components each (fitted on train rows)." if pca_dims else ""
    return (f"Table: Paper A ablations, {'/'.join(regressors)}, on {_dataset_phrase(label, sim)}. Test split ({n_test} "
            f"posts); SRC / MAE / MSE as mean ± std over {len(seeds)} seed(s) {list(seeds)} (stage 05's "
            f"seeds; ΔSRC/ΔMAE: difference of the means from the dual row of the same regressor, "
            f"LightGBM for the direct rows). **The 'branches' rows are feature-level ablations**: blocks of "
            f"the ONE dual model of stage 03 are dropped before boosting. The 'branches (retrained)' rows "
            f"(if any) train the prompt model again with one branch's loss only, or without the "
            f"prototype branch's loss (stage 03's knobs and seed, one prompt-model seed), and boost "
            f"that model's image, text and trained branches' features; the 'text prototypes "
            f"(retrained)' row trains the dual model with `{raw_block}` in place of the textual "
            f"prototypes in its cross-attention (Eq. 6) and boosts all its blocks; all on "
            f"the dual model's loss selection. 'enhanced' (prototype cross-attention, Eq. 6) and "
            f"'probs' (softmax of the mean of the global, local and enhanced logits) both depend on the prototypes and are dropped "
            f"together; the raw-tags row puts `{raw_block}` (stage 02, the post's own title + tags) "
            f"where they were. Loss-based selection keeps {n_selected} of {n_train} train posts "
            f"({frac:.0%}); the random control draws the same number per seed. Rows dual, all posts, "
            f"frozen CLIP and metadata only are stage 05's fits (predictions/boosting.parquet); the "
            f"direct rows are stage 03's (predictions/direct_regression.parquet).{pca}")


def tail_metrics(y_true, y_pred, threshold: float) -> dict:
    """Global MAE / SRC / mean prediction and, on the posts with label > threshold, MAE and
    mean signed error (prediction - label); NaN there when no post is above it."""
    y, p = np.asarray(y_true, float), np.asarray(y_pred, float)
    m = regression_metrics(y, p)
    tail = y > threshold
    return {"n_tail": int(tail.sum()), "mae": m["mae"], "src": m["src"], "mean_pred": float(p.mean()),
            "tail_mae": float(np.abs(p[tail] - y[tail]).mean()) if tail.any() else float("nan"),
            "tail_bias": float((p[tail] - y[tail]).mean()) if tail.any() else float("nan")}


def tail_frames(runs: Mapping[int, list[dict]], labels: pd.Series, threshold: float,
                n_train_tail: Mapping[int, int]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per oversampling factor (``runs``: factor -> its seed results): tail MAE, tail bias,
    global MAE, global SRC, mean test prediction, mean ± std over seeds."""
    keys = ("tail_mae", "tail_bias", "mae", "src", "mean_pred")
    shown, nums = [], []
    for factor, res in runs.items():
        per = [tail_metrics(labels.reindex(r["pids"]).to_numpy(), r["y_pred"], threshold) for r in res]
        s = summarize_seeds(per, keys)
        base = {"oversample factor": int(factor), "train posts above threshold": int(n_train_tail[factor]),
                "n_train (rows fitted)": res[0]["n_train"], "test posts above threshold": per[0]["n_tail"],
                "regressor": res[0]["regressor"], "seeds": len(res)}
        cell = (lambda k: f"{s[f'{k}_mean']:.4f}") if len(res) < 2 else \
            (lambda k: mean_std_cell(s[f"{k}_mean"], s[f"{k}_std"]))
        shown.append({**base, "tail MAE": cell("tail_mae"), "tail bias (pred - label)": cell("tail_bias"),
                      "global MAE": cell("mae"), "global SRC": cell("src"),
                      "mean test prediction": cell("mean_pred")})
        nums.append({**base, **s})
    return pd.DataFrame(shown), pd.DataFrame(nums)


def category_mae(preds: pd.DataFrame, labels: pd.Series, categories: pd.Series) -> pd.DataFrame:
    """Test MAE per category: ``preds`` long (Pid, seed, y_pred), ``labels`` and
    ``categories`` indexed by Pid. MAE per category and seed, then mean and std (ddof 1)
    over seeds; ``n`` = posts of the category."""
    d = preds.assign(err=(preds["y_pred"] - labels.reindex(preds["Pid"]).to_numpy()).abs(),
                     category=categories.reindex(preds["Pid"]).astype(str).to_numpy())
    if d["err"].isna().any():
        raise KeyError(f"category_mae: {int(d['err'].isna().sum())} predictions have no label")
    per = d.groupby(["category", "seed"], sort=True)["err"].mean().rename("mae").reset_index()
    out = per.groupby("category")["mae"].agg(mae_mean="mean", mae_std=lambda v: v.std(ddof=1) if len(v) > 1 else 0.0)
    out["n"] = d[d["seed"] == d["seed"].iloc[0]].groupby("category").size()
    return out.reset_index()[["category", "n", "mae_mean", "mae_std"]]


def category_frames(model: pd.DataFrame, reference: pd.DataFrame, model_name: str,
                    ref_name: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per-category table of the model and the reference (:func:`category_mae` frames),
    sorted by the model's MAE, largest first."""
    m = model.merge(reference, on=["category", "n"], suffixes=("", "_ref"), validate="one_to_one")
    m["delta"] = m["mae_mean"] - m["mae_mean_ref"]
    m = m.sort_values(["mae_mean", "category"], ascending=[False, True]).reset_index(drop=True)
    fmt = lambda a, b: [mean_std_cell(x, y) if y else f"{x:.4f}" for x, y in zip(a, b)]  # noqa: E731
    shown = pd.DataFrame({"Category": m["category"], "n test posts": m["n"],
                          f"MAE {model_name}": fmt(m["mae_mean"], m["mae_std"]),
                          f"MAE {ref_name}": fmt(m["mae_mean_ref"], m["mae_std_ref"]),
                          "Δ (model - reference)": [f"{x:+.4f}" for x in m["delta"]]})
    return shown, m.rename(columns={"mae_mean_ref": "ref_mae_mean", "mae_std_ref": "ref_mae_std"})


def long_predictions(results: list[dict]) -> pd.DataFrame:
    return pd.concat([pd.DataFrame({"Pid": r["pids"], "seed": r["seed"], "y_pred": r["y_pred"]})
                      for r in results], ignore_index=True)


# ----------------------------------------------------------------------------- figure
def tail_shift_data(base: list[dict], oversampled: list[dict], labels: pd.Series, factor: int) -> pd.DataFrame:
    """Long frame (series, seed, Pid, value): test predictions without and with oversampling
    (every seed) and the true test labels (seed -1)."""
    parts = [long_predictions(base).assign(series="prediction, no oversampling"),
             long_predictions(oversampled).assign(series=f"prediction, tail x{factor}")]
    pids = base[0]["pids"]
    parts.append(pd.DataFrame({"Pid": pids, "seed": -1, "y_pred": labels.reindex(pids).to_numpy(),
                               "series": "true label"}))
    return pd.concat(parts, ignore_index=True).rename(columns={"y_pred": "value"})[
        ["series", "seed", "Pid", "value"]]


def tail_shift_figure(data: pd.DataFrame, threshold: float, title: str):
    """KDE of the test predictions without / with oversampling and of the true labels,
    seeds pooled, the threshold as a vertical line."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    fig, ax = plt.subplots(figsize=(9, 4.2))
    sns.kdeplot(data=data, x="value", hue="series", common_norm=False, fill=True, alpha=0.25,
                linewidth=1.6, cut=0, ax=ax, warn_singular=False)
    sns.move_legend(ax, "upper left", bbox_to_anchor=(1.01, 1), title=None, fontsize=10, frameon=False)
    ax.axvline(threshold, color="k", ls="--", lw=1.2)
    ax.text(threshold, ax.get_ylim()[1] * 0.95, f" popularity > {threshold:g}", fontsize=10, va="top")
    ax.set_title(title, fontsize=11)
    ax.set_xlabel("popularity (log scale, test posts)", fontsize=11)
    ax.set_ylabel("density", fontsize=11)
    ax.tick_params(labelsize=10)
    return fig
