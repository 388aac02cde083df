"""Notebook 04's loops: the 12 baselines and JRPP over seeds, test-time perturbation,
predictions and metrics on disk, the optional IB-beta sweep. Each function is short enough
to read next to the notebook cell that calls it."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from ..core import paths
from ..core.io import write_parquet, write_text
from ..core.metrics import regression_metrics, summarize_seeds
from ..core.reports import write_metrics
from ..core.trainer import TrainConfig, Trainer, predict
from .model import JRPP, JRPPConfig
from .tta import choose_scale, predict_tta

EVAL_SPLITS = ("val", "test")


def seeds(cfg) -> list[int]:
    return [int(cfg.seed) + i for i in range(int(cfg.n_seeds))]


def with_bank_pos(data: dict) -> dict:
    """Add ``bank_pos`` (position in the bank for train rows, -1 elsewhere) so that a train
    post, whichever loop predicts it, never retrieves itself."""
    out = {}
    for s, d in data.items():
        pos = d["idx"].clone() if s == "train" else torch.full_like(d["idx"], -1)
        out[s] = {**d, "bank_pos": pos}
    return out


def train_config(cfg, seed: int) -> TrainConfig:
    return TrainConfig.from_knobs(cfg, seed)


def train_jrpp(data: dict, info: dict, cfg, seed: int, ckpt_dir=None, progress: bool = False, **overrides):
    """Train one JRPP (``overrides``: JRPPConfig fields, e.g. ablation switches or ib_beta)."""
    torch.manual_seed(seed)
    model = JRPP(info["dims"], info["n_users"], info["label_mean"],
                 JRPPConfig.from_cfg(cfg, **overrides), bank=data["train"])
    run_key = json.dumps({"fingerprint": info["fingerprint"], "cfg": vars(cfg), "seed": seed,
                          "overrides": overrides}, sort_keys=True, default=str)
    tr = Trainer(model, train_config(cfg, seed), ckpt_dir, progress, run_key=run_key)
    hist = tr.fit(data["train"], data["val"])
    return tr.model, hist


def tta_choice(model, data: dict, cfg, seed: int) -> dict | None:
    """The TTA noise scales chosen on validation (:func:`.tta.choose_scale`), None if T = 0."""
    if int(cfg.tta_T) <= 0:
        return None
    return choose_scale(model, data["val"], int(cfg.tta_T), cfg.tta_scales,
                        getattr(cfg, "tta_scale_grid", "1"), seed=seed)


def predict_splits(model, data: dict, cfg, seed: int, tta: bool = True, choice: dict | None = None) -> dict:
    """{split: {'y_pred', 'y_pred_tta'}} for val and test (TTA = Eq. 14-15 at the scales of
    ``choice``, chosen on validation when not given)."""
    if tta and choice is None:
        choice = tta_choice(model, data, cfg, seed)
    out = {}
    for s in EVAL_SPLITS:
        p = predict(model, data[s], 512)
        pt = (predict_tta(model, data[s], int(cfg.tta_T), choice["scales"], seed=seed, batch_size=512)
              if tta and choice is not None else p.copy())
        out[s] = {"y_pred": p, "y_pred_tta": pt}
    return out


def save_tta_choice(ckpt_dir, choice: dict | None) -> None:
    """Next to the checkpoints, so notebook 06's T sweep perturbs at the same scales."""
    if ckpt_dir is not None and choice is not None:
        write_text(Path(ckpt_dir) / "tta.json", json.dumps(choice, sort_keys=True, indent=1))


def load_tta_scales(ckpt_dir, default: str) -> str:
    f = Path(ckpt_dir) / "tta.json"
    return json.loads(f.read_text())["scales"] if f.is_file() else default


def write_predictions(profile: str, name: str, info: dict, preds: dict) -> None:
    frames = [pd.DataFrame({"Pid": info["pids"][s], "split": s, **preds[s]}) for s in preds]
    write_parquet(pd.concat(frames, ignore_index=True),
                  paths.data_dir(profile) / "predictions" / "jrpp" / f"{name}.parquet",
                  {"fingerprint": info["fingerprint"], "model": name})


def run_jrpp(data: dict, info: dict, cfg, profile: str) -> dict:
    """JRPP over the seeds: predictions written per seed; returns per-seed metrics/timings."""
    rows = []
    for i, seed in enumerate(seeds(cfg)):
        ckpt = paths.models_dir(profile) / "jrpp" / f"seed{i}"
        t0 = time.time()
        model, hist = train_jrpp(data, info, cfg, seed, ckpt)
        choice = tta_choice(model, data, cfg, seed)
        save_tta_choice(ckpt, choice)
        preds = predict_splits(model, data, cfg, seed, choice=choice)
        write_predictions(profile, f"jrpp_seed{i}", info, preds)
        y = data["test"]["y"].numpy()
        pt = preds["test"]
        rows.append({"seed": seed, "test": regression_metrics(y, pt["y_pred"]),
                     "test_tta": regression_metrics(y, pt["y_pred_tta"]),
                     "tta_mean_abs_change": float(np.mean(np.abs(pt["y_pred_tta"] - pt["y_pred"]))),
                     "tta_choice": choice,
                     "best_epoch": hist.best_epoch, "epochs_run": len(hist.val_mse),
                     "best_val_mse": hist.best_val_mse,
                     "sec_per_epoch": float(np.mean(hist.epoch_seconds)),
                     "train_posts_per_s": len(data["train"]["y"]) / float(np.mean(hist.epoch_seconds)),
                     "seconds": time.time() - t0})
    return {"rows": rows}


def run_baselines(data: dict, info: dict, cfg, profile: str | None = None) -> dict:
    """{name: list of per-seed test metrics, or the reason it was not run}; seconds too.

    With ``profile``, the val/test predictions of every baseline are written per seed to
    ``data/<profile>/predictions/jrpp/baselines_seed{i}.parquet`` (one column per model),
    for the tail analysis (notebook 07).
    """
    from ..baselines import REGISTRY, NotRun

    if str(cfg.baselines).lower() in ("none", "", "false"):
        return {"results": {n: "disabled (baselines knob)" for n in REGISTRY}, "seconds": {}}
    wanted = list(REGISTRY) if str(cfg.baselines).lower() == "all" else \
        [b.strip() for b in str(cfg.baselines).split(",") if b.strip()]
    results, secs = {}, {}
    preds = {i: {s: {} for s in EVAL_SPLITS} for i in range(len(seeds(cfg)))}
    y = data["test"]["y"].numpy()
    for name in wanted:
        if name not in REGISTRY:
            results[name] = f"unknown baseline {name!r}"
            continue
        per = []
        try:
            for i, seed in enumerate(seeds(cfg)):
                out = REGISTRY[name](data, info, seed, cfg)
                per.append(regression_metrics(y, out["test"]))
                secs[name] = secs.get(name, 0.0) + float(out.get("seconds", 0.0))
                for s in EVAL_SPLITS:
                    preds[i][s][name] = np.asarray(out[s], dtype=float)
            results[name] = per
        except NotRun as e:
            results[name] = str(e)
        print(f"{name:8s}", "not run: " + results[name] if isinstance(results[name], str) else
              " ".join(f"{k}={v:.4f}" for k, v in summarize_seeds(per).items() if k.endswith("mean")))
    if profile is not None:
        for i, per_split in preds.items():
            if any(per_split[s] for s in EVAL_SPLITS):
                write_predictions(profile, f"baselines_seed{i}", info, per_split)
    return {"results": results, "seconds": secs}


def parse_betas(spec) -> list[float]:
    return [float(b) for b in str(spec or "").replace(";", ",").split(",") if b.strip()]


def beta_sweep(data: dict, info: dict, cfg, betas) -> list[dict]:
    """One seed per beta (no TTA): test metrics and the best validation MSE."""
    rows = []
    for b in betas:
        model, hist = train_jrpp(data, info, cfg, int(cfg.seed), None, ib_beta=float(b))
        m = regression_metrics(data["test"]["y"].numpy(), predict(model, data["test"], 512))
        rows.append({"beta": float(b), **m, "val_mse": hist.best_val_mse})
    return rows


def matched_metrics(matched: dict, ridge: dict) -> dict:
    per = [r["test"] for r in matched["rows"]]
    return {"jrpp_content_user": {**summarize_seeds(per), "per_seed": per,
                                  "epochs_run": [r["epochs_run"] for r in matched["rows"]]},
            "ridge_embeddings": {**ridge["test"], "alpha": ridge["alpha"]},
            "matched_beats_ridge_every_seed": {
                k: bool(all((p[k] > ridge["test"][k]) if k == "src" else (p[k] < ridge["test"][k]) for p in per))
                for k in ("mse", "mae", "src")}}


def jrpp_metrics(jrpp: dict, baselines: dict, beta_rows: list | None = None,
                 matched: dict | None = None) -> dict:
    rows = jrpp["rows"]
    out = {"jrpp": {**summarize_seeds([r["test"] for r in rows]),
                    "tta": summarize_seeds([r["test_tta"] for r in rows]),
                    "tta_mean_abs_change": float(np.mean([r["tta_mean_abs_change"] for r in rows])),
                    "tta_minus_plain": {k: float(np.mean([r["test_tta"][k] - r["test"][k] for r in rows]))
                                        for k in rows[0]["test"]},
                    "tta_choice": [r["tta_choice"] for r in rows],
                    "sec_per_epoch": float(np.mean([r["sec_per_epoch"] for r in rows])),
                    "train_posts_per_s": float(np.mean([r["train_posts_per_s"] for r in rows])),
                    "epochs_run": [r["epochs_run"] for r in rows],
                    "best_epoch": [r["best_epoch"] for r in rows], "n_seeds": len(rows)},
           "baselines": {n: (summarize_seeds(r) if isinstance(r, list) else {"not_run": r})
                         for n, r in baselines.get("results", {}).items()},
           "baseline_seconds": baselines.get("seconds", {})}
    if beta_rows:
        out["beta_sweep"] = beta_rows
    if matched:
        out["information_matched"] = matched
    return out


def write_jrpp_metrics(profile: str, metrics: dict):
    return write_metrics(paths.metrics_dir(profile) / "jrpp.json", metrics)


# ---------------------------------------------------------------------------- information-matched rows
MATCHED = "JRPP (content + user id)"
RIDGE = "Ridge (embeddings)"
# JRPP given what the paper's model gets: image + text embeddings and the user id (MoL user
# component and a user embedding in the post encoder); no metadata, no neighbour labels.
MATCHED_OVERRIDES = dict(use_bank_labels=False, use_user=True, query_user=True)


def content_only(data: dict, info: dict) -> tuple[dict, dict]:
    """The inputs without metadata (zero-width ``meta``/``meta_ctx``)."""
    out = {s: {**d, "meta": d["meta"][:, :0], **({"meta_ctx": d["meta_ctx"][:, :0]} if "meta_ctx" in d else {})}
           for s, d in data.items()}
    return out, {**info, "dims": {**info["dims"], "meta": 0}}


def run_matched(data: dict, info: dict, cfg, profile: str | None = None) -> dict:
    """``JRPP (content + user id)`` over the seeds (plain predictions, no TTA, so the row
    compares the networks): per-seed test metrics."""
    d, inf = content_only(data, info)
    rows = []
    for i, seed in enumerate(seeds(cfg)):
        model, hist = train_jrpp(d, inf, cfg, seed, None, **MATCHED_OVERRIDES)
        p = predict(model, d["test"], 512)
        rows.append({"seed": seed, "test": regression_metrics(d["test"]["y"].numpy(), p),
                     "epochs_run": len(hist.val_mse), "best_val_mse": hist.best_val_mse})
    return {"rows": rows}


def ridge_embeddings(data: dict, alphas=(0.1, 1.0, 10.0, 100.0, 1000.0, 10000.0)) -> dict:
    """``Ridge (embeddings)``: sklearn Ridge on the standardised [img; txt] embeddings,
    alpha chosen on validation MSE. Deterministic (the same for every seed)."""
    from sklearn.linear_model import Ridge
    from sklearn.preprocessing import StandardScaler

    x = {s: np.concatenate([data[s]["img"].numpy(), data[s]["txt"].numpy()], 1) for s in ("train", *EVAL_SPLITS)}
    y = {s: data[s]["y"].numpy().astype(float) for s in x}
    sc = StandardScaler().fit(x["train"])
    x = {s: sc.transform(v) for s, v in x.items()}
    val = {}
    for a in alphas:
        r = Ridge(alpha=float(a)).fit(x["train"], y["train"])
        val[float(a)] = float(np.mean((r.predict(x["val"]) - y["val"]) ** 2))
    best = min(val, key=lambda a: (val[a], a))
    r = Ridge(alpha=best).fit(x["train"], y["train"])
    return {"alpha": best, "val_mse": val, "test": regression_metrics(y["test"], r.predict(x["test"]))}
