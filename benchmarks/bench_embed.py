"""Embedding-extraction benchmark (not part of make test; `make bench`): does the image
pipeline keep the model busy?

    python benchmarks/bench_embed.py [--profile default] [--posts 2048] [--workers 0,2]

For the same posts and batches it times

* ``forward``: the model's pure forward pass (``encode_image`` + ``encode_text`` under the
  device's autocast) on batches already decoded and in memory, and
* ``extract``: ``embed.encoders.extract_clip`` end to end (file read, decode, resize and
  tokenise in the DataLoader, then the same forward), for each DataLoader worker count,

and reports posts/s of each and ``extract / forward`` (the issue's target: >= 0.8). It reads
the profile's posts table and images (run the data stage first) and the CLIP architecture of
``prototypes.clip_model`` with random weights (throughput does not depend on the weights).
Writes ``reports/metrics/bench_embed.json``.
"""

from __future__ import annotations

import argparse
import time

import torch

from smpp_utils.core import config, paths
from smpp_utils.core.device import autocast, get_device
from smpp_utils.core.io import write_json
from smpp_utils.data.splits import load_posts
from smpp_utils.embed.encoders import (PostImageDataset, create_clip, eval_preprocess, post_loader,
                                       extract_clip, image_root)


@torch.no_grad()
def forward_rate(model, batches, device) -> float:
    """Posts/s of the forward pass alone over in-memory ``(images, tokens)`` batches."""
    n, t = 0, time.perf_counter()
    for images, tokens in batches:
        with autocast(device):
            model.encode_image(images.to(device))
            model.encode_text(tokens.to(device))
        n += len(images)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return n / (time.perf_counter() - t)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", default="default")
    ap.add_argument("--posts", type=int, default=2048)
    ap.add_argument("--workers", default="0,2", help="DataLoader worker counts to time")
    ap.add_argument("--out", default=str(paths.metrics_dir("default") / "bench_embed.json"))
    a = ap.parse_args(argv)
    cfg = config.stage("prototypes", profile=a.profile)
    posts, _ = load_posts(a.profile)
    posts = posts.iloc[:a.posts]
    device = get_device()
    torch.manual_seed(0)
    model, _, tokenizer = create_clip(cfg.clip_model, None, device=device)
    batch = int(cfg.embed_batch)
    root = image_root(a.profile)
    ds = PostImageDataset(posts, root, eval_preprocess(model), tokenizer)
    batches = [(im, tok) for im, tok, _ in post_loader(ds, batch, 0, device)]   # decoded once, kept
    forward_rate(model, batches[:1], device)                                 # warm-up
    fwd = forward_rate(model, batches, device)
    runs = []
    for w in [int(s) for s in a.workers.split(",") if s.strip()]:
        _, _, stats = extract_clip(model, posts, root, tokenizer, batch_size=batch, num_workers=w,
                                   device=device, progress=False)
        runs.append({"num_workers": w, "extract_posts_per_s": stats["images_per_s"],
                     "extract_over_forward": stats["images_per_s"] / fwd})
        print(runs[-1])
    best = max(runs, key=lambda r: r["extract_over_forward"])
    out = {"profile": a.profile, "model": cfg.clip_model, "device": str(device), "posts": len(posts),
           "batch_size": batch, "torch_threads": torch.get_num_threads(),
           "forward_posts_per_s": fwd, "runs": runs,
           "best_extract_over_forward": best["extract_over_forward"],
           "best_num_workers": best["num_workers"],
           "note": "forward = encode_image + encode_text on in-memory batches; extract = "
                   "extract_clip end to end (read, decode, preprocess, tokenise, forward)"}
    write_json(a.out, out)
    print("wrote", a.out, {k: out[k] for k in ("forward_posts_per_s", "best_extract_over_forward")})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
