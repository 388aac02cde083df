"""``python -m smpp_utils.data.sim``: write SMPD-Sim files in the official format."""

from __future__ import annotations

import argparse
import json

from .config import REGIMES, SimConfig, regime_config
from .writer import simulate


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(
        prog="python -m smpp_utils.data.sim",
        description="SMPD-Sim: a seeded simulator that writes a folder in the official SMPD file "
                    "format (train_*.json / train_label.txt / train_img_filepath.txt and the test_* "
                    "counterparts, one JPEG per post), plus sim_config.json and sim_latent.csv "
                    "(the noise-free scores behind the oracle ceiling). The data stage reads such a "
                    "folder like real SMPD and labels every result SMPD-Sim (simulated).",
        epilog="Example (the paper-profile rehearsal): python -m smpp_utils.data.sim --out "
               "data/smpd_e2e --posts 1500 --users 200 --image-size 32 --seed 1 --test-ratio 0.1")
    ap.add_argument("--out", required=True, metavar="DIR",
                    help="folder to write; must be empty or absent unless --overwrite")
    ap.add_argument("--posts", type=int, required=True, metavar="N",
                    help="posts in the train files (the test files add round(N x test-ratio) later posts)")
    ap.add_argument("--seed", type=int, required=True,
                    help="random seed: the same seed and options write byte-identical files")
    ap.add_argument("--users", type=int, default=None, metavar="N",
                    help=f"number of users (default: posts / {SimConfig.posts_per_user:g}, as in real SMPD)")
    ap.add_argument("--image-size", type=int, default=SimConfig.image_size, metavar="PX",
                    help="side of the square procedural images in pixels, >= 8 (default %(default)s)")
    ap.add_argument("--test-ratio", type=float, default=SimConfig.test_ratio, metavar="R",
                    help="share of extra, later posts written as the official test split, in [0, 1] "
                         "(default %(default)s)")
    ap.add_argument("--regime", default="smpd", choices=sorted(REGIMES),
                    help="named generative regime (docs/sim_calibration.md; default %(default)s: "
                         "calibrated to real SMPD's statistics)")
    ap.add_argument("--overwrite", action="store_true",
                    help="replace a non-empty --out folder (atomically: the old one is removed "
                         "only after the new one is complete)")
    a = ap.parse_args(argv)
    cfg = regime_config(a.regime, posts=a.posts, seed=a.seed, users=a.users, image_size=a.image_size,
                        test_ratio=a.test_ratio)
    summary = simulate(a.out, cfg, overwrite=a.overwrite)
    print(json.dumps(summary, sort_keys=True))
    return summary

