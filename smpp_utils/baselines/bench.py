"""Timing of the 12 baselines on synthetic inputs of the default-profile size.

    python -m smpp_utils.baselines.bench --out reports/metrics/baselines_bench.json [--only SVR NIPA]

Writes {name: {"seconds" (wall), "cpu_seconds" (this process, all threads), "test_mse"}}
and the mean predictor's test MSE (synthetic data; a speed check, not a result).
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np

from ..data.synthetic import make_synthetic
from . import REGISTRY, NotRun
from .fit import default_cfg


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=None)
    ap.add_argument("--only", nargs="*", default=None)
    ap.add_argument("--n-train", type=int, default=16000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--epochs", type=int, default=30)
    a = ap.parse_args(argv)
    n_eval = a.n_train // 8
    t0 = time.perf_counter()
    data, info = make_synthetic(a.n_train, n_eval, n_eval, di=128, dt=384, dm=20, n_users=1500,
                                n_cats=77, n_tags=2000, max_tags=16, noise=0.5, seed=a.seed)
    print(f"synthetic inputs: {time.perf_counter() - t0:.1f}s", flush=True)
    # the default profile's jrpp section: lr 1e-4, batch 512, epochs 30, patience 10
    cfg = default_cfg(seed=a.seed, lr=1e-4, batch_size=512, epochs=a.epochs, patience=10)
    y = data["test"]["y"].numpy()
    res = {"_setup": {"n_train": a.n_train, "cpu_count": os.cpu_count(),
                      "loadavg_start": os.getloadavg()[0]}}
    for name in a.only or REGISTRY:
        c0 = time.process_time()
        try:
            out = REGISTRY[name](data, info, a.seed, cfg)
        except NotRun as e:
            res[name] = {"not_run": e.reason}
            continue
        res[name] = {"seconds": round(out["seconds"], 2),
                     "cpu_seconds": round(time.process_time() - c0, 2),
                     "test_mse": round(float(np.mean((out["test"] - y) ** 2)), 4),
                     "loadavg": round(os.getloadavg()[0], 1)}
        print(name, res[name], flush=True)
    res["_setup"]["mean_mse"] = round(float(np.mean((y - info["label_mean"]) ** 2)), 4)
    if a.out:
        with open(a.out + ".tmp", "w") as f:
            json.dump(res, f, indent=1, sort_keys=True)
        os.replace(a.out + ".tmp", a.out)
    return res


if __name__ == "__main__":
    main()
