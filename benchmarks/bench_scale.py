"""Scale benchmark (not part of make test; `make bench`): per-stage wall time and peak RSS on
simulated data at several post counts, and the cost-growth exponent between sizes.

    python benchmarks/bench_scale.py [--sizes 20000,80000] [--out reports/metrics/bench_scale.json]

Each size runs in a fresh subprocess (so its peak RSS is its own). ``posts`` = labelled posts;
the JRPP protocol's 8:1:1 split makes the train split (the retrieval bank, the GBDT and
prototype training rows) ``0.8 * posts`` = 244,490 posts at SMPD's 305,613. Stages, in pipeline
order, and what is reduced to fit 2 shared CPU cores (``*_est``: per-item linear work timed on
a sample and extrapolated to every post; the rest run at full size):

* ``simulate_table`` (data): SMPD-Sim v2 draws every post (``data.sim.simulate_table``).
* ``render_images_est`` (data): the procedural JPEG renderer of the data stage on
  ``--sample`` posts at 32 px (the ci image size; default uses 64), extrapolated to all posts.
* ``embed_est`` (prototypes): smpp-vit-tiny image + text forward (random weights) on
  ``--sample`` posts in batches of 256, extrapolated; the DataLoader's share is
  ``bench_embed.json`` (extraction keeps 0.82 of the pure forward pass).
* ``prototype_sampling`` (prototypes): the diverse 256-shot sampler (``sample_diverse``: time
  bins x k-means topics x user cap, per subcategory) on the simulated train posts with
  synthetic 512-d image embeddings, full size.
* ``finetune_epoch_est`` (finetune): ``--steps`` optimiser steps of the dual-prompt PromptCLIP
  (smpp-vit-tiny, 16 global / 8 local prompts, random prototypes, batch 128, backbone trained)
  through ``core.trainer``, extrapolated to one epoch over the train split.
* ``boosting``: LightGBM and CatBoost with the default knobs (600 rounds, early stopping on
  val) on a synthetic matrix of the boosting stage's width (20 metadata + 2 x 32 PCA columns)
  with ``0.8 * posts`` train / ``0.1 * posts`` val rows, full size.
* ``jrpp_train``: JRPP (default-profile dimensions) on synthetic embeddings of the study's widths
  (512 image + 384 text + 20 metadata) with a bank of the train split; ``--steps`` optimiser
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


class _Timer:
    """``with timer("stage"):`` records wall seconds, process CPU seconds and the peak RSS after."""

    def __init__(self):
        self.seconds, self.cpu, self.rss = {}, {}, {}

    def __call__(self, name: str):
        import contextlib

        @contextlib.contextmanager
        def run():
            w, c = time.perf_counter(), time.process_time()
            yield
            self.seconds[name] = time.perf_counter() - w
            self.cpu[name] = time.process_time() - c
            self.rss[name] = _rss_mb()
        return run()


def _render_sample(tables, sample: int) -> float:
    """Seconds per image of the data stage's renderer + JPEG encoder at 32 px."""
    import io

    from smpp_utils.data.sim.images import _render

    rows = tables.images.head(sample).to_dict("records")
    t = time.perf_counter()
    for p in rows:
        _render(p, 32, 0).save(io.BytesIO(), format="JPEG", quality=90, optimize=False, subsampling=2)
    return (time.perf_counter() - t) / len(rows)


def _canonical_train(posts, n_train: int):
    """The first ``n_train`` simulated posts with the reader's column names that the
    prototype sampler reads (split / subcategory / Uid / postdate)."""
    import pandas as pd

    p = posts.head(n_train)
    return pd.DataFrame({"Pid": p["Pid"].to_numpy(), "split": "train",
                         "subcategory": p["Subcategory"].astype(str).to_numpy(),
                         "Uid": p["Uid"].astype(str).to_numpy(),
                         "postdate": pd.to_datetime(p["Postdate"].astype("int64"), unit="s", utc=True)})


def _clip_inputs(n: int):
    """(smpp-vit-tiny with random weights, its tokenizer, its image side, ``n`` tokenised
    sample texts)."""
    from smpp_utils.embed.encoders import create_clip

    model, _, tok = create_clip("smpp-vit-tiny", None, "cpu")
    size = model.visual.image_size
    size = size[0] if isinstance(size, (tuple, list)) else int(size)
    return model, tok, size, tok([f"post {i} tag{i % 7} sunset city" for i in range(n)])


def _embed_sample(sample: int) -> float:
    """Seconds per post of smpp-vit-tiny's image + text towers (batches of 256, no grad)."""
    import torch

    model, _, size, texts = _clip_inputs(256)
    g = torch.Generator().manual_seed(0)
    t = time.perf_counter()
    with torch.no_grad():
        for s in range(0, sample, 256):
            model.encode_image(torch.randn(min(256, sample - s), 3, size, size, generator=g))
            model.encode_text(texts[:min(256, sample - s)])
    return (time.perf_counter() - t) / sample


def _finetune_steps(steps: int, batch: int = 128) -> float:
    """Seconds per optimiser step of the dual-prompt model through ``core.trainer``."""
    import torch

    from smpp_utils.core.trainer import TrainConfig, Trainer
    from smpp_utils.paper_a.prompts import PromptCLIP, random_bank

    clip, tok, size, texts = _clip_inputs(batch)
    bank = random_bank(77, 11, int(clip.visual.output_dim), 384, seed=0)
    model = PromptCLIP(clip, tok, bank, global_ctx=16, local_ctx=8, attn_heads=4)
    g = torch.Generator().manual_seed(0)

    def loader(epoch):
        for _ in range(steps + 1):
            yield {"images": torch.randn(batch, 3, size, size, generator=g),
                   "label": torch.randint(0, 77, (batch,), generator=g), "text": texts}
    cfg = TrainConfig(epochs=1, lr=1e-4, weight_decay=1e-5, batch_size=batch, seed=0,
                      optimizer="adamw", grad_clip=None, max_steps=steps + 1, patience=2, device="cpu")
    tr = Trainer(model, cfg, None, False)
    t = time.perf_counter()
    tr.fit(loader, None, resume=False)
    return (time.perf_counter() - t) / (steps + 1)


def _boosting(n_train: int, n_val: int, timer) -> dict:
    """LightGBM and CatBoost (default knobs) on a synthetic matrix of the stage's width."""
    import numpy as np
    import pandas as pd
    from types import SimpleNamespace

    from smpp_utils.paper_a.boosting import fit_catboost, fit_lgbm

    g = np.random.default_rng(0)
    n, d = n_train + n_val, 20 + 64
    X = pd.DataFrame(g.normal(size=(n, d)).astype(np.float32), columns=[f"f{i:03d}" for i in range(d)])
    w = g.normal(size=d) / np.sqrt(d)
    y = X.to_numpy() @ w + np.tanh(X.iloc[:, 0].to_numpy() * X.iloc[:, 1].to_numpy()) + 0.5 * g.normal(size=n)
    cfg = SimpleNamespace(lgbm_estimators=600, lgbm_lr=0.03, lgbm_leaves=31, cat_iterations=600,
                          cat_depth=6, cat_lr=0.05)
    Xt, Xv, yt, yv = X.iloc[:n_train], X.iloc[n_train:], y[:n_train], y[n_train:]
    with timer("boosting_lightgbm"):
        fit_lgbm(Xt, yt, Xv, yv, cfg, 0)
    with timer("boosting_catboost"):
        fit_catboost(Xt, yt, Xv, yv, cfg, 0)
    return {"train_rows": n_train, "val_rows": n_val, "features": d}


def run_size(posts: int, steps: int, sample: int) -> dict:
    import numpy as np
    import torch

    from smpp_utils.core.trainer import TrainConfig, Trainer
    from smpp_utils.data.sim import SimConfig, simulate_table
    from smpp_utils.data.synthetic import make_synthetic
    from smpp_utils.jrpp import JRPP, JRPPConfig
    from smpp_utils.jrpp.exact_topk import ComponentIndex, mol_topk
    from smpp_utils.jrpp.experiment import with_bank_pos
    from smpp_utils.paper_a.prototypes import sample_diverse

    torch.set_num_threads(2)
    timer = _Timer()
    n_train, n_val = int(0.8 * posts), int(0.1 * posts)
    est = {}
    with timer("simulate_table"):
        tables = simulate_table(SimConfig(posts=posts, seed=0))
    n_posts = len(tables.posts)
    with timer("render_images_est"):
        per_image = _render_sample(tables, sample)
    est["render_images_est"] = per_image * n_posts
    with timer("embed_est"):
        per_post = _embed_sample(sample)
    est["embed_est"] = per_post * n_posts
    train_posts = _canonical_train(tables.posts, n_train)
    del tables
    emb = np.random.default_rng(0).normal(size=(n_train, 512)).astype(np.float32)
    with timer("prototype_sampling"):
        sel = sample_diverse(train_posts, emb, 256, 8, 8, 4, 0)
    del emb, train_posts
    with timer("finetune_epoch_est"):
        per_step = _finetune_steps(steps)
    est["finetune_epoch_est"] = per_step * -(-n_train // 128)
    boost = _boosting(n_train, n_val, timer)

    data, info = make_synthetic(n_train, 64, 64, di=512, dt=384, dm=20, n_users=max(2, posts // 8), seed=0)
    data = with_bank_pos(data)
    torch.manual_seed(0)
    model = JRPP(info["dims"], info["n_users"], info["label_mean"], JRPPConfig(), bank=data["train"])
    tr = Trainer(model, TrainConfig(epochs=1, batch_size=512, max_steps=steps, seed=0, device="cpu"),
                 progress=False)
    with timer("jrpp_train"):
        t = time.perf_counter()
        model.on_epoch_start(0, tr)
        reindex = time.perf_counter() - t
        t = time.perf_counter()
        tr.fit(data["train"], None, resume=False)
        train_s = time.perf_counter() - t
    rows = min(n_train, steps * 512)
    epoch_est = reindex + train_s / rows * n_train

    with torch.no_grad():
        bank, m = data["train"], model.mol
        rc, rs = [], []
        for s in range(0, n_train, 8192):
            b = {k: v[s:s + 8192] for k, v in bank.items()}
            h = model.encoder(model.features(b))
            rc.append(m.item_components(h, b["user"]))
            rs.append(m.item_summary(h))
        rc, rs = torch.cat(rc), torch.cat(rs)
        q = {k: v[:64] for k, v in data["test"].items()}
        hq = model.encoder(model.features(q))
        qc, qs = m.query_components(hq, q["user"]), m.query_summary(hq)
        with timer("exact_topk"):
            res = mol_topk(m, qc, qs, rc, rs, ComponentIndex(rc), 50, k0=512)
    return {"posts": posts, "train_bank_posts": n_train, "simulated_posts_train_test": n_posts,
            "seconds": timer.seconds, "cpu_seconds": timer.cpu, "peak_rss_mb": timer.rss,
            "extrapolated_seconds": est, "sample_posts": sample,
            "prototypes_selected": int(sum(len(v) for v in sel.values())), "boosting": boost,
            "finetune_step_s": per_step, "jrpp_steps": steps, "jrpp_reindex_s": reindex,
            "jrpp_epoch_s_est": epoch_est, "exact_topk_certified_frac": float(res.certified.mean())}


def growth(runs: list[dict]) -> list[dict]:
    out = []
    for a, b in zip(runs, runs[1:]):
        r = math.log(b["posts"] / a["posts"])
        out.append({"from": a["posts"], "to": b["posts"],
                    "seconds": {k: math.log(b["seconds"][k] / a["seconds"][k]) / r for k in a["seconds"]},
                    "extrapolated_seconds": {k: math.log(b["extrapolated_seconds"][k] / a["extrapolated_seconds"][k]) / r
                                             for k in a["extrapolated_seconds"]},
                    "jrpp_epoch_s_est": math.log(b["jrpp_epoch_s_est"] / a["jrpp_epoch_s_est"]) / r})
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="20000,80000")
    ap.add_argument("--steps", type=int, default=4, help="JRPP / finetune optimiser steps timed per size")
    ap.add_argument("--sample", type=int, default=2048, help="posts rendered / embedded per size (then extrapolated)")
    ap.add_argument("--out", default=str(metrics_dir("default") / "bench_scale.json"))
    ap.add_argument("--one", type=int, help=argparse.SUPPRESS)      # child: one size, JSON on stdout
    a = ap.parse_args(argv)
    if a.one:
        print("RESULT " + json.dumps(run_size(a.one, a.steps, a.sample)))
        return 0
    runs = []
    for n in [int(s) for s in a.sizes.split(",") if s.strip()]:
        p = subprocess.run([sys.executable, __file__, "--one", str(n), "--steps", str(a.steps),
                            "--sample", str(a.sample)],
                           capture_output=True, text=True)
        if p.returncode:
            raise SystemExit(f"bench_scale: size {n} failed:\n{p.stderr[-3000:]}")
        runs.append(json.loads(p.stdout.split("RESULT ", 1)[1]))
        print(runs[-1])
    write_json(a.out, {"runs": runs, "growth_exponent": growth(runs),
                       "note": "every stage of the pipeline at each size (module doc of "
                               "benchmarks/bench_scale.py): simulate, prototype sampling, boosting, "
                               "exact top-k at full size; image rendering (32 px), CLIP embedding, "
                               "one finetune epoch and one JRPP epoch extrapolated from a timed "
                               "sample; train split = bank = 0.8 * posts; 2 shared CPU cores"})
    print("wrote", a.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
