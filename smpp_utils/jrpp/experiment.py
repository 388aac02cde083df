"""Notebook 04's loops: the 12 baselines and JRPP over seeds, test-time perturbation,
predictions and metrics on disk, the optional IB-beta sweep. Each function is short enough
to read next to the notebook cell that calls it."""

from __future__ import annotations

import json
import time

import numpy as np
import pandas as pd
import torch

from ..core import paths
from ..core.io import write_parquet
from ..core.metrics import regression_metrics, summarize_seeds
from ..core.reports import write_metrics
from ..core.trainer import TrainConfig, Trainer, predict
from .model import JRPP, JRPPConfig
from .tta import predict_tta

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


def predict_splits(model, data: dict, cfg, seed: int, tta: bool = True) -> dict:
    """{split: {'y_pred', 'y_pred_tta'}} for val and test (TTA = Eq. 14-15)."""
    out = {}
    for s in EVAL_SPLITS:
        p = predict(model, data[s], 512)
        pt = (predict_tta(model, data[s], int(cfg.tta_T), cfg.tta_scales, seed=seed, batch_size=512)
              if tta and int(cfg.tta_T) > 0 else p.copy())
        out[s] = {"y_pred": p, "y_pred_tta": pt}
    return out


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
        preds = predict_splits(model, data, cfg, seed)
        write_predictions(profile, f"jrpp_seed{i}", info, preds)
        y = data["test"]["y"].numpy()
        rows.append({"seed": seed, "test": regression_metrics(y, preds["test"]["y_pred"]),
                     "test_tta": regression_metrics(y, preds["test"]["y_pred_tta"]),
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


def jrpp_metrics(jrpp: dict, baselines: dict, beta_rows: list | None = None) -> dict:
    rows = jrpp["rows"]
    out = {"jrpp": {**summarize_seeds([r["test"] for r in rows]),
                    "tta": summarize_seeds([r["test_tta"] for r in rows]),
                    "sec_per_epoch": float(np.mean([r["sec_per_epoch"] for r in rows])),
                    "train_posts_per_s": float(np.mean([r["train_posts_per_s"] for r in rows])),
                    "epochs_run": [r["epochs_run"] for r in rows],
                    "best_epoch": [r["best_epoch"] for r in rows], "n_seeds": len(rows)},
           "baselines": {n: (summarize_seeds(r) if isinstance(r, list) else {"not_run": r})
                         for n, r in baselines.get("results", {}).items()},
           "baseline_seconds": baselines.get("seconds", {})}
    if beta_rows:
        out["beta_sweep"] = beta_rows
    return out


def write_jrpp_metrics(profile: str, metrics: dict):
    return write_metrics(paths.metrics_dir(profile) / "jrpp.json", metrics)
