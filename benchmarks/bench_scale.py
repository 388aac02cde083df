"""Scale benchmark (not part of make test; `make bench`): per-stage wall time and peak RSS on
simulated data at several post counts, and the cost-growth exponent between sizes.

    python benchmarks/bench_scale.py [--sizes 20000,80000] [--out reports/metrics/bench_scale.json]

Each size runs in a fresh subprocess (so its peak RSS is its own). Stages, and what is reduced
to fit 2 shared CPU cores:

* ``simulate_table``: SMPD-Sim v2 draws every post (``data.sim.simulate_table``); images are not
  rendered (their cost is per image and linear; not measured here).
* ``jrpp_train``: JRPP (default-profile dimensions) on synthetic embeddings of the study's widths
  (512 image + 384 text + 20 metadata) with a bank of ``posts`` train posts; ``--steps`` optimiser
  steps through ``core.trainer`` after the epoch's bank re-index, and the epoch time is
  *extrapolated* (``jrpp_epoch_s_est`` = re-index + steps' time per row * bank rows), not run.
* ``exact_topk``: the exact MoL top-50 (``jrpp/exact_topk.py``) of 64 queries over the bank.

``cpu_seconds``: the process CPU time per stage (robust to other jobs on a shared machine).
``peak_rss_mb`` per stage is the process's peak RSS after that stage (monotone within a size).
``growth_exponent``: log(t2/t1)/log(n2/n1) between consecutive sizes, per stage.
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import subprocess
import sys
import time

from smpp_utils.core.io import write_json
from smpp_utils.core.paths import metrics_dir


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_size(posts: int, steps: int) -> dict:
    import torch

    from smpp_utils.core.trainer import TrainConfig, Trainer
    from smpp_utils.data.sim import SimConfig, simulate_table
    from smpp_utils.jrpp import JRPP, JRPPConfig
    from smpp_utils.jrpp.exact_topk import ComponentIndex, mol_topk
    from smpp_utils.jrpp.experiment import with_bank_pos
    from smpp_utils.data.synthetic import make_synthetic

    torch.set_num_threads(2)
    seconds, rss, cpu = {}, {}, {}
    c = time.process_time()
    t = time.perf_counter()
    tables = simulate_table(SimConfig(posts=posts, seed=0))
    seconds["simulate_table"], rss["simulate_table"] = time.perf_counter() - t, _rss_mb()
    cpu["simulate_table"], c = time.process_time() - c, time.process_time()
    n_posts = len(tables.posts)
    del tables

    data, info = make_synthetic(posts, 64, 64, di=512, dt=384, dm=20, n_users=max(2, posts // 8), seed=0)
    data = with_bank_pos(data)
    torch.manual_seed(0)
    model = JRPP(info["dims"], info["n_users"], info["label_mean"], JRPPConfig(), bank=data["train"])
    tr = Trainer(model, TrainConfig(epochs=1, batch_size=512, max_steps=steps, seed=0, device="cpu"),
                 progress=False)
    t = time.perf_counter()
    model.on_epoch_start(0, tr)
    reindex = time.perf_counter() - t
    t = time.perf_counter()
    tr.fit(data["train"], None, resume=False)
    train_s = time.perf_counter() - t
    seconds["jrpp_train"], rss["jrpp_train"] = reindex + train_s, _rss_mb()
    cpu["jrpp_train"] = time.process_time() - c
    rows = min(posts, steps * 512)
    epoch_est = reindex + train_s / rows * posts

    with torch.no_grad():
        bank, m = data["train"], model.mol
        rc, rs = [], []
        for s in range(0, posts, 8192):
            b = {k: v[s:s + 8192] for k, v in bank.items()}
            h = model.encoder(model.features(b))
            rc.append(m.item_components(h, b["user"]))
            rs.append(m.item_summary(h))
        rc, rs = torch.cat(rc), torch.cat(rs)
        q = {k: v[:64] for k, v in data["test"].items()}
        hq = model.encoder(model.features(q))
        qc, qs = m.query_components(hq, q["user"]), m.query_summary(hq)
        t, c = time.perf_counter(), time.process_time()
        res = mol_topk(m, qc, qs, rc, rs, ComponentIndex(rc), 50, k0=512)
        seconds["exact_topk"], rss["exact_topk"] = time.perf_counter() - t, _rss_mb()
        cpu["exact_topk"] = time.process_time() - c
    return {"posts": posts, "simulated_posts_train_test": n_posts, "seconds": seconds,
            "cpu_seconds": cpu, "peak_rss_mb": rss, "jrpp_steps": steps, "jrpp_reindex_s": reindex,
            "jrpp_epoch_s_est": epoch_est, "exact_topk_certified_frac": float(res.certified.mean())}


def growth(runs: list[dict]) -> list[dict]:
    out = []
    for a, b in zip(runs, runs[1:]):
        r = math.log(b["posts"] / a["posts"])
        out.append({"from": a["posts"], "to": b["posts"],
                    "seconds": {k: math.log(b["seconds"][k] / a["seconds"][k]) / r for k in a["seconds"]},
                    "jrpp_epoch_s_est": math.log(b["jrpp_epoch_s_est"] / a["jrpp_epoch_s_est"]) / r})
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="20000,80000")
    ap.add_argument("--steps", type=int, default=4, help="JRPP optimiser steps timed per size")
    ap.add_argument("--out", default=str(metrics_dir("default") / "bench_scale.json"))
    ap.add_argument("--one", type=int, help=argparse.SUPPRESS)      # child: one size, JSON on stdout
    a = ap.parse_args(argv)
    if a.one:
        print("RESULT " + json.dumps(run_size(a.one, a.steps)))
        return 0
    runs = []
    for n in [int(s) for s in a.sizes.split(",") if s.strip()]:
        p = subprocess.run([sys.executable, __file__, "--one", str(n), "--steps", str(a.steps)],
                           capture_output=True, text=True)
        if p.returncode:
            raise SystemExit(f"bench_scale: size {n} failed:\n{p.stderr[-3000:]}")
        runs.append(json.loads(p.stdout.split("RESULT ", 1)[1]))
        print(runs[-1])
    write_json(a.out, {"runs": runs, "growth_exponent": growth(runs),
                       "note": "SMPD-Sim table draw + JRPP on synthetic embeddings; epoch time "
                               "extrapolated from --steps steps; no images rendered; 2 shared CPU cores"})
    print("wrote", a.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
