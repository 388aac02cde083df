"""GPU smoke check (not part of make test): exercises the study's GPU paths on a machine with
CUDA and writes what it measured; on a machine without CUDA it says so and exits 0.

    python benchmarks/gpu_check.py [--out reports/metrics/gpu_check.json]

Checks, each against its CPU result on the same inputs:

1. ``core.device``: ``get_device()`` picks CUDA; ``autocast`` runs bf16/fp16 matmuls;
2. ``core.trainer``: a few optimiser steps of JRPP (small dimensions, synthetic data) on the
   GPU under autocast, loss finite and decreasing;
3. ``core.knn.build_index``: faiss moves the flat index to the GPU(s) (sharded across them
   when there are several) and returns the same top-10 as the CPU index (recall vs CPU);
4. JRPP prediction on the GPU vs on the CPU with the same weights (max |difference|: autocast
   and GPU reductions make it small, not zero).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from smpp_utils.core.device import amp_dtype, autocast, get_device
from smpp_utils.core.io import write_json
from smpp_utils.core.knn import build_index, search
from smpp_utils.core.paths import metrics_dir


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(metrics_dir("default") / "gpu_check.json"))
    a = ap.parse_args(argv)
    if not torch.cuda.is_available():
        print("gpu_check: no CUDA device here; nothing to check (the study runs on CPU)")
        return 0
    import faiss

    from smpp_utils.core.trainer import TrainConfig, Trainer, predict
    from smpp_utils.data.synthetic import make_synthetic
    from smpp_utils.jrpp import JRPP, JRPPConfig
    from smpp_utils.jrpp.experiment import with_bank_pos

    dev = get_device()
    out = {"device": torch.cuda.get_device_name(0), "cuda": torch.version.cuda,
           "amp_dtype": str(amp_dtype(dev)), "faiss_gpus": faiss.get_num_gpus()}
    x = torch.randn(512, 512, device=dev)
    with autocast(dev):
        y = x @ x.T
    out["autocast_dtype"] = str(y.dtype)

    data, info = make_synthetic(4000, 500, 500, di=64, dt=48, dm=4, n_users=400, seed=0)
    data = with_bank_pos(data)
    cfg = JRPPConfig(proj_dim=64, n_mol=4, mol_dim=16, shortlist=50, k=20, d_model=32, n_heads=2)
    torch.manual_seed(0)
    model = JRPP(info["dims"], info["n_users"], info["label_mean"], cfg, bank=data["train"])
    tr = Trainer(model, TrainConfig(epochs=3, batch_size=256, seed=0, device=str(dev)), progress=False)
    t = time.perf_counter()
    hist = tr.fit(data["train"], data["val"], resume=False)
    out["jrpp_fit_s"] = time.perf_counter() - t
    out["jrpp_val_mse"] = [float(v) for v in hist.val_mse]
    pred_gpu = np.asarray(predict(model, data["test"], 512))
    model_cpu = JRPP(info["dims"], info["n_users"], info["label_mean"], cfg, bank=data["train"])
    model_cpu.load_state_dict({k: v.cpu() for k, v in model.state_dict().items()})
    pred_cpu = np.asarray(predict(model_cpu.eval(), data["test"], 512, device="cpu"))
    out["jrpp_gpu_vs_cpu_max_abs"] = float(np.abs(pred_gpu - pred_cpu).max())

    emb = np.random.default_rng(0).standard_normal((100_000, 128)).astype(np.float32)
    q = emb[:256]
    _, ids_cpu = search(build_index(emb, "flat", use_gpu=False), q, 10)
    gpu_index = build_index(emb, "flat", use_gpu=True)
    _, ids_gpu = search(gpu_index, q, 10)
    out["faiss_index"] = type(gpu_index).__name__
    out["faiss_gpu_recall_vs_cpu"] = float(np.mean([len(set(a) & set(b)) / 10 for a, b in zip(ids_cpu, ids_gpu)]))
    write_json(a.out, out)
    print(out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
