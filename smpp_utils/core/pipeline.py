"""Run one pipeline stage's notebook with papermill, passing every knob explicitly.

    python -m smpp_utils.core.pipeline STAGE [--profile P]

DVC calls this (dvc.yaml); the stage's section of params.yaml for the active profile is
passed as ``-p name value`` pairs (plus ``profile`` and ``seed``), and the executed copy
goes to ``reports/notebooks/`` (``reports/<profile>/notebooks/`` outside ``default``).
"""

from __future__ import annotations

import argparse
import os
import sys

from . import config, paths

STAGES = {
    "data": "01_data",
    "prototypes": "02_prototypes",
    "finetune": "03_prompt_finetune",
    "jrpp": "04_jrpp",
    "boosting": "05_boosting",
    "ablations": "06_ablations",
    "tail": "07_tail_analysis",
}


def notebook_parameters(stage: str, profile: str) -> dict:
    params = config.load_params()
    return {"profile": profile, "seed": params[profile]["seed"],
            **config.section(stage, profile, params)}


def run(stage: str, profile: str | None = None) -> None:
    import papermill as pm

    if stage not in STAGES:
        raise SystemExit(f"unknown stage {stage!r}; expected one of {sorted(STAGES)}")
    profile = config.active_profile(profile)
    name = STAGES[stage]
    out_dir = paths.reports_dir(profile) / "notebooks"
    out_dir.mkdir(parents=True, exist_ok=True)
    os.environ["SMPP_PROFILE"] = profile
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")   # see Makefile: GBDTs next to torch
    pm.execute_notebook(
        str(paths.ROOT / "notebooks" / f"{name}.ipynb"),
        str(out_dir / f"{name}.ipynb"),
        parameters=notebook_parameters(stage, profile),
        kernel_name="python3",
        cwd=str(paths.ROOT),
        progress_bar=False,
        log_output=True,
    )


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("stage", choices=sorted(STAGES))
    ap.add_argument("--profile", default=None)
    args = ap.parse_args(argv)
    run(args.stage, args.profile)
    return 0


if __name__ == "__main__":
    sys.exit(main())
