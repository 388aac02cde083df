"""Run one pipeline stage: its notebook with papermill, every knob passed explicitly, and its
reports published only when the whole notebook succeeded.

    python -m smpp_utils STAGE [--profile P]          (= python -m smpp_utils.core.pipeline STAGE)

STAGE is a notebook stage (data prototypes finetune jrpp boosting ablations tail head_to_head regimes
paper_a_ablations), ``check``
(the pre-flight, ``smpp_utils.core.preflight``) or ``results`` (the results page,
``smpp_utils.pipeline.results_page``). DVC calls this (dvc.yaml).

A notebook stage
1. runs the pre-flight checks (params valid, external inputs present; no hashing);
2. copies the profile's tables/figures/metrics into a staging folder
   (``.staging/<profile>/<stage>/``) and points ``paths.reports_dir(profile)`` there
   (``$SMPP_REPORTS_STAGING``): the notebook writes its reports there and still reads
   earlier stages' (``metrics/data.json``); the executed notebook goes there too;
3. on success, checks that the stage wrote every report output dvc.yaml declares for it,
   adds ``timings/<stage>.json`` (run wall-clock, merged with what the notebook recorded via
   ``core.reports.write_timings``) and moves what the stage wrote into the final reports
   folder (one ``os.replace`` per file); unchanged files are left untouched.
While a stage runs, ``<reports>/.running/<stage>.json`` says so; it is removed on success
and left behind (state ``failed``, or ``running`` after a kill) otherwise, so a reader sees
that the reports of that stage are from the previous complete run, not this one.
"""

from __future__ import annotations

import argparse
import filecmp
import json
import os
import shutil
import sys
import time
from pathlib import Path

from . import config, paths
from .io import write_json

STAGES = {
    "data": "01_data",
    "prototypes": "02_prototypes",
    "finetune": "03_prompt_finetune",
    "jrpp": "04_jrpp",
    "boosting": "05_boosting",
    "ablations": "06_ablations",
    "tail": "07_tail_analysis",
    "head_to_head": "08_head_to_head",
    "regimes": "09_regimes",
    "paper_a_ablations": "10_paperA_ablations",
}
EXTRA_STAGES = ("check", "results")
STAGED_DIRS = ("tables", "figures", "metrics")   # copied into staging (read by later stages)


class StageOutputMissing(RuntimeError):
    pass


def notebook_parameters(stage: str, profile: str) -> dict:
    """What papermill passes: the profile only; the notebook reads its knobs by name
    (``config.stage``), so DVC's params of the stage are exactly what its code reads."""
    return {"profile": profile}


# ----------------------------------------------------------------------------- dvc.yaml outs
def _profile_vars(profile: str) -> dict[str, str]:
    return {"${profile.name}": profile, "${profile.reports}": paths.REPORTS[profile]}


def declared_report_outs(stage: str, profile: str, dvc_yaml=None) -> list[str]:
    """The stage's outs/metrics/plots in dvc.yaml that live in the profile's reports folder,
    as paths relative to it (``tables/table1_datasets.md``)."""
    import yaml

    dvc_yaml = Path(dvc_yaml or paths.ROOT / "dvc.yaml")
    if not dvc_yaml.is_file():
        return []
    spec = yaml.safe_load(dvc_yaml.read_text())["stages"].get(stage, {})
    prefix = paths.REPORTS[profile].rstrip("/") + "/"
    found = []
    for kind in ("outs", "metrics", "plots"):
        for item in spec.get(kind, []) or []:
            path = item if isinstance(item, str) else next(iter(item))
            for var, value in _profile_vars(profile).items():
                path = path.replace(var, value)
            if "${" not in path and path.startswith(prefix):
                found.append(path[len(prefix):])
    return found


# ----------------------------------------------------------------------------- staging
def _snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(folder)): (p.stat().st_ino, p.stat().st_mtime_ns)
            for p in folder.rglob("*") if p.is_file()}


def stage_reports(profile: str, stage: str) -> tuple[Path, dict]:
    """Fresh staging folder for ``stage`` holding a copy of the profile's reports that later
    stages read; returns it and a snapshot telling copied files from newly written ones."""
    staging = paths.staging_root(profile) / stage
    if staging.exists():
        shutil.rmtree(staging)          # left by a killed run: never published
    staging.mkdir(parents=True)
    final = paths.final_reports_dir(profile)
    for sub in STAGED_DIRS:
        if (final / sub).is_dir():
            shutil.copytree(final / sub, staging / sub)
    return staging, _snapshot(staging)


def written_files(staging: Path, snapshot: dict) -> list[str]:
    """Files of ``staging`` created or replaced since ``snapshot`` (atomic writes replace)."""
    now = _snapshot(staging)
    return sorted(rel for rel, sig in now.items() if snapshot.get(rel) != sig)


def publish(staging: Path, final: Path, files: list[str]) -> list[str]:
    """Move ``files`` (relative) from ``staging`` into ``final``; identical files are left
    alone (no mtime churn). Returns the files that changed."""
    changed = []
    for rel in files:
        src, dst = staging / rel, final / rel
        if dst.is_file() and filecmp.cmp(src, dst, shallow=False):
            continue
        dst.parent.mkdir(parents=True, exist_ok=True)
        os.replace(src, dst)
        changed.append(rel)
    return changed


def _marker(profile: str, stage: str) -> Path:
    return paths.final_reports_dir(profile) / ".running" / f"{stage}.json"


def _set_marker(profile: str, stage: str, state: str, **extra) -> None:
    write_json(_marker(profile, stage),
               {"stage": stage, "state": state, "pid": os.getpid(),
                "note": f"the reports of stage {stage} here are from its previous complete run",
                **extra})


def _clear_marker(profile: str, stage: str) -> None:
    m = _marker(profile, stage)
    m.unlink(missing_ok=True)
    try:
        m.parent.rmdir()
    except OSError:
        pass


# ----------------------------------------------------------------------------- run
def run(stage: str, profile: str | None = None) -> list[str]:
    """Run ``stage``; returns the report files it published (relative to the reports folder)."""
    from . import preflight

    if stage not in STAGES and stage not in EXTRA_STAGES:
        raise SystemExit(f"unknown stage {stage!r}; expected one of {sorted(STAGES) + list(EXTRA_STAGES)}")
    if stage == "check":
        preflight.check(profile)
        print(f"pre-flight ok ({config.active_profile(profile)})")
        return []
    profile = config.active_profile(profile)
    if stage == "results":
        from ..pipeline import results_page

        return [str(p.relative_to(paths.final_reports_dir(profile)))
                for p in results_page.write(profile)]
    preflight.check(profile, record=False)
    return _run_notebook(stage, profile)


def _run_notebook(stage: str, profile: str) -> list[str]:
    import papermill as pm

    name = STAGES[stage]
    final = paths.final_reports_dir(profile)
    staging, snapshot = stage_reports(profile, stage)
    (staging / "notebooks").mkdir(exist_ok=True)
    env_before = {k: os.environ.get(k) for k in ("SMPP_PROFILE", paths.STAGING_ENV)}
    os.environ["SMPP_PROFILE"] = profile
    os.environ[paths.STAGING_ENV] = str(staging)
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")   # see Makefile: GBDTs next to torch
    _set_marker(profile, stage, "running", started=time.strftime("%Y-%m-%dT%H:%M:%S"))
    t0 = time.perf_counter()
    try:
        pm.execute_notebook(
            str(paths.ROOT / "notebooks" / f"{name}.ipynb"),
            str(staging / "notebooks" / f"{name}.ipynb"),
            parameters=notebook_parameters(stage, profile),
            kernel_name="python3",
            cwd=str(paths.ROOT),
            progress_bar=False,
            log_output=True,
        )
        timings_path = staging / "timings" / f"{stage}.json"
        timings = json.loads(timings_path.read_text()) if timings_path.is_file() else {}
        write_json(timings_path, {**timings, "runner_wall_seconds": round(time.perf_counter() - t0, 1)})
        files = written_files(staging, snapshot)
        missing = [rel for rel in declared_report_outs(stage, profile) if rel not in files]
        if missing:
            raise StageOutputMissing(
                f"stage {stage} ({name}.ipynb) did not write {', '.join(missing)} "
                f"(declared in dvc.yaml under {paths.REPORTS[profile]}/); nothing was published")
        published = publish(staging, final, files)
    except BaseException as exc:
        _set_marker(profile, stage, "failed", error=f"{type(exc).__name__}: {exc}"[:2000])
        raise
    finally:
        for k, v in env_before.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    shutil.rmtree(staging, ignore_errors=True)
    _clear_marker(profile, stage)
    return published


def main(argv=None) -> int:
    from .preflight import PreflightError

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("stage", choices=sorted(STAGES) + list(EXTRA_STAGES))
    ap.add_argument("--profile", default=None)
    args = ap.parse_args(argv)
    try:
        run(args.stage, args.profile)
    except PreflightError as exc:
        print(exc, file=sys.stderr)
        return 2
    except StageOutputMissing as exc:
        print(exc, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
