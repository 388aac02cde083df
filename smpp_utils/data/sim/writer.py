"""Writing SMPD-Sim in the official SMPD file format: the per-split JSON/label/path files, the
images, the ``sim_latent.csv`` sidecar and ``sim_config.json``, built in a temp folder and
renamed into place (atomic)."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

import pandas as pd

from .. import schema
from .config import SimConfig
from .images import _write_images
from .table import simulate_table

SPLITS = ("train", "test")

_FILE_KEYS = {
    "category": ("Uid", "Pid", "Category", "Subcategory", "Concept"),
    "text": ("Uid", "Pid", "Title", "Mediatype", "Alltags"),
    "user": ("Uid", "Pid", "photo_firstdate", "photo_firstdatetaken", "photo_count", "ispro",
             "canbuypro", "timezone_offset", "timezone_id", "user_description",
             "location_description"),
    "additional": ("Uid", "Pid", "Pathalias", "Ispublic", "Mediastatus"),
    "temporalspatial": ("Uid", "Pid", "Postdate", "Latitude", "Longitude", "Geoaccuracy"),
}


def _write_split(root: Path, split: str, df: pd.DataFrame) -> None:
    df = df.assign(Pid=df["Pid"].astype(str))
    for kind, keys in _FILE_KEYS.items():
        recs = df.loc[:, list(keys)].to_dict("records")
        (root / schema.RAW_FILES[kind].format(split=split)).write_text(json.dumps(recs))
    (root / schema.RAW_FILES["label"].format(split=split)).write_text(
        "".join(f"{v:.2f}\n" for v in df["label"]))
    (root / schema.RAW_FILES["img_filepath"].format(split=split)).write_text(
        "".join(f"{p}\n" for p in df["img_path"]))


def simulate(out_dir, cfg: SimConfig, overwrite: bool = False, images: bool = True) -> dict:
    """Write SMPD-Sim into ``out_dir`` atomically (built in a temp folder beside it, renamed at
    the end). Refuses a non-empty ``out_dir`` unless ``overwrite``. Returns a summary."""
    t_start = time.perf_counter()
    out = Path(out_dir).resolve()
    if out.exists() and (not out.is_dir() or any(out.iterdir())) and not overwrite:
        raise FileExistsError(f"{out} exists and is not empty; pass overwrite=True to replace it")
    out.parent.mkdir(parents=True, exist_ok=True)
    tab = simulate_table(cfg)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    os.chmod(tmp, 0o755)                                     # mkdtemp makes it 0700
    try:
        for split in SPLITS:
            _write_split(tmp, split, tab.posts[tab.posts["split"] == split])
        if images:
            _write_images(tmp, tab.images, cfg)
        tab.latent.to_csv(tmp / "sim_latent.csv", index=False, float_format="%.6f", lineterminator="\n")
        counts = {s: int((tab.posts["split"] == s).sum()) for s in SPLITS}
        meta = {"config": asdict(cfg), "counts": counts, "users": int(tab.posts["Uid"].nunique()),
                "images": bool(images), "generator": "smpp_utils.data.sim"}
        (tmp / "sim_config.json").write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
        if out.exists():
            trash = out.parent / f".{out.name}.old-{os.getpid()}"
            os.replace(out, trash)
            os.replace(tmp, out)
            shutil.rmtree(trash, ignore_errors=True)
        else:
            os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return {"out_dir": str(out), "posts_train": counts["train"], "posts_test": counts["test"],
            "users": meta["users"], "image_size": cfg.image_size, "seed": cfg.seed,
            "seconds": round(time.perf_counter() - t_start, 3)}
