"""The data stage (notebook 01): materialise the dataset, read it through the one SMPD
reader, write the canonical table and the splits.

``source: sim``  - SMPD-Sim writes the official file format into ``data/<profile>/raw``
                   (reused when the same simulator config is already there), then the
                   reader reads it exactly as it reads real SMPD.
``source: smpd`` - the reader reads the official files at ``smpd_root`` in place; nothing is
                   copied, and ``data/<profile>/raw/SOURCE.json`` records which folder was
                   read and its content hash (``data.manifest.smpd_manifest``), so the
                   stage's declared output ``raw/`` exists for every profile.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd

from ..core import paths
from ..core.io import read_parquet_meta, write_parquet
from . import provenance, smpd
from .splits import load_posts, make_splits, write_splits  # noqa: F401 (re-export)


def raw_root(cfg) -> Path:
    if cfg.source == "sim":
        return paths.data_dir(cfg.profile) / "raw"
    if cfg.source == "smpd":
        root = paths.resolve(cfg.smpd_root)
        if root is None or not root.is_dir():
            raise FileNotFoundError(
                f"data.smpd_root = {cfg.smpd_root!r} is not a folder; point it at the official "
                "SMPD files (train_category.json ... train_img_filepath.txt and the images)")
        return root
    raise ValueError(f"data.source must be 'sim' or 'smpd', not {cfg.source!r}")


def sim_config(cfg):
    from .sim import regime_config

    return regime_config(str(cfg.sim_regime), posts=int(cfg.sim_posts), users=int(cfg.sim_users),
                         image_size=int(cfg.sim_image_size), test_ratio=float(cfg.sim_test_ratio),
                         seed=int(cfg.seed))


def ensure_simulated(cfg) -> dict:
    """Run the simulator unless ``raw/`` already holds output of the same config."""
    from dataclasses import asdict

    from .sim import simulate

    root = raw_root(cfg)
    scfg = sim_config(cfg)
    stamp = root / "sim_config.json"
    if stamp.is_file():
        on_disk = json.loads(stamp.read_text()).get("config", {})    # the writer's stamp
        if on_disk == json.loads(json.dumps(asdict(scfg))):          # tuples as JSON lists
            return {"reused": True, "seconds": 0.0}
    if root.exists():
        shutil.rmtree(root)
    summary = simulate(root, scfg)
    return {"reused": False, **summary}


def write_source_manifest(cfg, root: Path) -> Path:
    """``data/<profile>/raw/SOURCE.json``: the external SMPD folder read by this run and its
    content hash (reused from the pre-flight record when it describes the same folder)."""
    from ..core.io import write_json
    from .manifest import external_dir, smpd_manifest

    recorded = external_dir(cfg.profile) / "source.json"
    manifest = json.loads(recorded.read_text()) if recorded.is_file() else {}
    if manifest.get("root") != str(root):
        manifest = smpd_manifest(root)
    return write_json(paths.data_dir(cfg.profile) / "raw" / "SOURCE.json", manifest)


def prepare(cfg) -> tuple[pd.DataFrame, dict]:
    """Read the raw files, write ``posts.parquet`` and ``splits.parquet`` (and, for real
    SMPD, ``raw/SOURCE.json``); return the posts and a report (reader summary, split sizes,
    fingerprints)."""
    root = raw_root(cfg)
    posts, report = smpd.read_smpd(root, lenient=bool(cfg.lenient),     # a regime's cfg: the reader's defaults
                                   date_window=getattr(cfg, "date_window", smpd.DATE_WINDOW),
                                   max_image_pixels=int(getattr(cfg, "max_image_pixels", smpd.MAX_IMAGE_PIXELS)))
    if cfg.source == "smpd":
        write_source_manifest(cfg, root)
    d = paths.data_dir(cfg.profile)
    data_fp = smpd.data_fingerprint(posts)
    # the image root, relative to the project when inside it (outputs stay movable)
    meta = {"fingerprint": data_fp, "root": paths.portable(root), "source": cfg.source, "report": report}
    simulated = provenance.simulated_folder(root) if cfg.source != "sim" else None
    if simulated:                      # a simulated folder read as official files (dataset_label)
        meta["simulated"] = simulated
    write_parquet(posts, d / "posts.parquet", meta)
    splits, fps = make_splits(posts, float(cfg.val_frac), float(cfg.test_frac), int(cfg.seed))
    write_splits(splits, fps, data_fp, d / "splits.parquet")
    sizes = {scheme: splits[scheme].value_counts().to_dict() for scheme in ("random", "chrono")}
    return posts, {"reader": report, "data_fingerprint": data_fp, "split_fingerprints": fps,
                   "split_sizes": sizes, "root": paths.portable(root)}


def provenance_of(profile: str) -> provenance.Provenance:
    """Where the profile's canonical table came from (``data.provenance``), from its metadata."""
    table = paths.data_dir(profile) / "posts.parquet"
    return provenance.from_metadata(read_parquet_meta(table), paths.data_dir(profile) / "raw", table)


def data_source(profile: str) -> str:
    """'sim' for simulated data (written here by the simulator, or a simulated folder read as
    official files), else the source the data stage read ('smpd', 'smp_video'): what captions
    test to say whether the numbers are simulated."""
    p = provenance_of(profile)
    return "sim" if p.simulated else p.source


def dataset_label(profile: str) -> str:
    """The dataset's label for every caption and figure title, derived from the data, never
    typed: ``SMPD-Sim (simulated, regime R)``, ``SMPD (real)`` or ``SMP-Video (real)``
    (``data.provenance``)."""
    return provenance_of(profile).label


def read_oracle(profile: str) -> dict | None:
    """The simulator's oracle ceiling {mse, mae, src} that this profile's data stage wrote
    (None on real data). Refuses a data.json of another profile or of other data. A simulated
    folder read as official files (``source: smpd``, the ``paper`` rehearsal) gets no ceiling
    from the data stage; it is computed here the same way (test split, the folder's own
    ``sim_latent.csv`` and config), so every stage reports it beside the models."""
    path = paths.metrics_dir(profile) / "data.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: missing - written by stage data (notebooks/01_data.ipynb)")
    metrics = json.loads(path.read_text())
    posts_fp = read_parquet_meta(paths.data_dir(profile) / "posts.parquet").get("fingerprint")
    if metrics.get("data_fingerprint") != posts_fp:
        raise ValueError(f"{path}: written for data {metrics.get('data_fingerprint')!r}, but "
                         f"{paths.data_dir(profile) / 'posts.parquet'} is {posts_fp!r}; rerun stage data")
    oracle = metrics.get("oracle")
    if not oracle and provenance_of(profile).source != "sim" and provenance_of(profile).simulated:
        from ..core import config

        cfg = config.stage("data", profile=profile)
        oracle = oracle_metrics(cfg, load_posts(profile, "random")[0])
    return {k: float(oracle[k]) for k in ("mse", "mae", "src")} if oracle else None


def oracle_series(cfg) -> pd.Series:
    """E[label | noise-free score] per Pid (SMPD-Sim only), from the simulator's sidecar file
    ``raw/sim_latent.csv`` that no model reads."""
    from .sim import oracle_predictions

    latent = pd.read_csv(raw_root(cfg) / "sim_latent.csv").set_index("Pid")["latent_score"]
    return pd.Series(oracle_predictions(latent.to_numpy(), _folder_sim_config(cfg)), index=latent.index)


def _folder_sim_config(cfg):
    """The simulator config of the folder read: the profile's (``source: sim``), or the one
    recorded in a simulated folder read as official files (not this profile's sim knobs)."""
    if cfg.source == "sim":
        return sim_config(cfg)
    from .sim.config import SimConfig

    stamp = raw_root(cfg) / provenance.SIM_STAMP
    return SimConfig(**json.loads(stamp.read_text())["config"])


def oracle_metrics(cfg, posts: pd.DataFrame, split: str = "test") -> dict:
    """Oracle ceiling on ``split``: metrics of :func:`oracle_series`."""
    from .report import oracle_on_split

    return oracle_on_split(posts, oracle_series(cfg), split)
