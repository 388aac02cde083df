"""Step 5 and the images: a latent image quality q per post (user skill + noise), the render
parameters of each post (subcategory style + session scene + per-post jitter; q sets contrast,
blur and composition), and the procedural JPEG renderer (parallel over ``workers``)."""

from __future__ import annotations

import colorsys
import math
import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import multiprocessing as mp
import numpy as np
import pandas as pd
from PIL import Image, ImageDraw, ImageFilter

from .config import SimConfig
from .sessions import Sessions
from .taxonomy import Taxonomy
from .vocab import _sigmoid


def image_params(cfg: SimConfig, rng: np.random.Generator, N: int, skill: np.ndarray, tax: Taxonomy,
                 ses: Sessions) -> tuple[np.ndarray, pd.DataFrame]:
    """(N,) image quality and the (N, ...) render parameters."""
    a = math.sqrt(cfg.quality_user_corr)
    quality = a * skill[ses.post_user] + math.sqrt(1 - cfg.quality_user_corr) * rng.normal(size=N)
    st = tax.style.iloc[ses.post_sub].reset_index(drop=True)
    ps, n_sess, post_con = ses.post_sess, ses.n_sess, ses.post_con

    def scene(sd, n=N):                                      # session-shared draw + small per-post noise
        return rng.normal(0, sd, n_sess)[ps] + rng.normal(0, 0.25 * sd, n)

    hue = (st["hue"].to_numpy() + scene(cfg.hue_jitter) + 0.03 * (post_con - 2)) % 1.0
    comp_sd = 0.05 + 0.12 * _sigmoid(-quality)               # composition: off-centre when low q
    images = pd.DataFrame({
        "hue": hue,
        "fg_hue": (hue + st["fg_shift"].to_numpy() + rng.normal(0, cfg.hue_jitter, N)) % 1.0,
        "sat": np.clip(st["sat"].to_numpy() + rng.normal(0, 0.08, N), 0.05, 1.0),
        "val": np.clip(rng.uniform(0.45, 0.95, n_sess)[ps] + rng.normal(0, 0.03, N), 0.3, 1.0),
        "shape": st["shape"].to_numpy(),
        "stripe_angle": st["stripe_angle"].to_numpy() + rng.normal(0, 0.15, N),
        "stripe_freq": st["stripe_freq"].to_numpy() * rng.uniform(0.8, 1.25, N),
        "stripe_phase": rng.uniform(0, 2 * math.pi, n_sess)[ps] + rng.normal(0, 0.2, N),
        "stripe_amp": st["stripe_amp"].to_numpy(),
        "n_extra": np.clip(st["n_extra"].to_numpy() + rng.integers(-1, 2, N), 0, 6),
        "cx": np.clip(0.5 + scene(1.0) * comp_sd, 0.05, 0.95),
        "cy": np.clip(0.5 + scene(1.0) * comp_sd, 0.05, 0.95),
        "scale": np.clip(0.22 + 0.06 * quality + rng.normal(0, 0.04, N), 0.08, 0.45),
        "aspect": np.clip(rng.uniform(0.7, 1.4, n_sess)[ps] + rng.normal(0, 0.05, N), 0.6, 1.5),
        "contrast": 0.35 + 0.65 * _sigmoid(1.2 * quality + 0.5),
        "blur": np.clip(0.9 - 0.6 * quality + rng.normal(0, 0.2, N), 0, 2.5) * cfg.image_size / 64,
        "noise_sd": cfg.image_noise_sd * (1 + 0.4 * np.clip(-quality, 0, None)),
    })
    return quality, images


# --------------------------------------------------------------------------- rendering
def _rgb(h, s, v):
    return tuple(int(round(255 * x)) for x in colorsys.hsv_to_rgb(h % 1.0, min(max(s, 0), 1), min(max(v, 0), 1)))


def _render(p: dict, size: int, seed: int) -> Image.Image:
    """Draw one post's image from its parameters (extra randomness seeded by (seed, Pid))."""
    rng = np.random.default_rng([seed, 99, int(p["Pid"])])
    g = (np.arange(size, dtype=np.float32) + 0.5) / size
    xx, yy = np.meshgrid(g, g)
    t = math.cos(p["stripe_angle"]) * xx + math.sin(p["stripe_angle"]) * yy
    stripes = (0.5 + 0.5 * np.sin(2 * math.pi * p["stripe_freq"] * t + p["stripe_phase"]))[..., None]
    bg1 = np.array(_rgb(p["hue"], p["sat"], p["val"]), np.float32)
    bg2 = np.array(_rgb(p["hue"] + 0.08, p["sat"] * 0.7, p["val"] * 0.6), np.float32)
    img = bg1 * (1 - yy[..., None]) + bg2 * yy[..., None]
    img = img * (1 - p["stripe_amp"] * stripes) + 255 * p["stripe_amp"] * stripes * 0.3
    im = Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))
    d = ImageDraw.Draw(im)
    ec = _rgb(p["fg_hue"] + 0.5, 0.5, 0.9)
    for _ in range(int(p["n_extra"])):
        x, y = rng.uniform(0, size, 2)
        r = rng.uniform(0.03, 0.08) * size
        d.ellipse([x - r, y - r, x + r, y + r], fill=ec)
    fc = _rgb(p["fg_hue"], 0.85, 0.95)
    cx, cy = p["cx"] * size, p["cy"] * size
    rx, ry = p["scale"] * size * p["aspect"], p["scale"] * size / p["aspect"]
    kind = int(p["shape"])
    if kind == 0:
        d.ellipse([cx - rx, cy - ry, cx + rx, cy + ry], fill=fc)
    elif kind == 1:
        d.rectangle([cx - rx, cy - ry, cx + rx, cy + ry], fill=fc)
    elif kind == 2:
        d.polygon([(cx, cy - ry), (cx - rx, cy + ry), (cx + rx, cy + ry)], fill=fc)
    elif kind == 3:
        d.polygon([(cx, cy - ry), (cx + rx, cy), (cx, cy + ry), (cx - rx, cy)], fill=fc)
    elif kind == 4:
        d.ellipse([cx - rx, cy - ry, cx + rx, cy + ry], outline=fc, width=max(1, int(0.35 * rx)))
    else:
        w = 0.35
        d.rectangle([cx - rx, cy - w * ry, cx + rx, cy + w * ry], fill=fc)
        d.rectangle([cx - w * rx, cy - ry, cx + w * rx, cy + ry], fill=fc)
    if p["blur"] > 0.05:
        im = im.filter(ImageFilter.GaussianBlur(float(p["blur"])))
    arr = np.asarray(im, dtype=np.float32)
    m = arr.mean()
    arr = m + p["contrast"] * (arr - m) + rng.normal(0, p["noise_sd"], arr.shape).astype(np.float32)
    return Image.fromarray(np.clip(arr + 0.5, 0, 255).astype(np.uint8))


def _render_chunk(args) -> int:
    root, rows, size, seed, quality = args
    for p in rows:
        _render(p, size, seed).save(os.path.join(root, p["img_path"]), format="JPEG",
                                    quality=quality, optimize=False, subsampling=2)
    return len(rows)


def _write_images(root: Path, images: pd.DataFrame, cfg: SimConfig) -> None:
    for d in sorted({os.path.dirname(p) for p in images["img_path"]}):
        (root / d).mkdir(parents=True, exist_ok=True)
    rows = images.to_dict("records")
    chunk = max(50, min(500, -(-len(rows) // (4 * max(1, cfg.workers)))))
    jobs = [(str(root), rows[i:i + chunk], cfg.image_size, cfg.seed, cfg.jpeg_quality)
            for i in range(0, len(rows), chunk)]
    workers = max(1, min(cfg.workers, os.cpu_count() or 1, len(jobs)))
    if workers == 1:
        for j in jobs:
            _render_chunk(j)
        return
    ctx = mp.get_context("fork") if "fork" in mp.get_all_start_methods() else mp.get_context()
    with ProcessPoolExecutor(workers, mp_context=ctx) as ex:
        list(ex.map(_render_chunk, jobs))

