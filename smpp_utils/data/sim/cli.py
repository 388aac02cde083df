"""``python -m smpp_utils.data.sim``: write SMPD-Sim files in the official format."""

from __future__ import annotations

import argparse
import json

from .config import REGIMES, SimConfig, regime_config
from .writer import simulate


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(prog="python -m smpp_utils.data.sim",
                                 description="SMPD-Sim: a seeded simulator that writes data in the official SMPD file format.")
    ap.add_argument("--out", required=True)
    ap.add_argument("--posts", type=int, required=True)
    ap.add_argument("--seed", type=int, required=True)
    ap.add_argument("--users", type=int, default=None)
    ap.add_argument("--image-size", type=int, default=SimConfig.image_size)
    ap.add_argument("--test-ratio", type=float, default=SimConfig.test_ratio)
    ap.add_argument("--regime", default="smpd", choices=sorted(REGIMES))
    ap.add_argument("--overwrite", action="store_true")
    a = ap.parse_args(argv)
    cfg = regime_config(a.regime, posts=a.posts, seed=a.seed, users=a.users, image_size=a.image_size,
                        test_ratio=a.test_ratio)
    summary = simulate(a.out, cfg, overwrite=a.overwrite)
    print(json.dumps(summary, sort_keys=True))
    return summary

