"""Run one pipeline stage: its notebook with papermill, every knob passed explicitly, and its
reports published only when the whole notebook succeeded.

    python -m smpp_utils STAGE [--profile P]          (= python -m smpp_utils.pipeline.runner STAGE)

STAGE is a notebook stage (data prototypes finetune jrpp boosting ablations tail head_to_head regimes
paper_a_ablations), ``check``
(the pre-flight, ``smpp_utils.pipeline.preflight``) or ``results`` (the results page,
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

One run at a time: a stage holds the profile's run lock (``pipeline.runlock``) from its
pre-flight to its last published file; a second runner of the profile is refused with the
holder's PID (exit 2). From the command line the runner also stops with its parent: when
``dvc`` (or the shell) that started it dies, it terminates the notebook kernel and exits
without publishing (unless publishing had begun: then the complete set is moved); SIGTERM
likewise stops the kernel and leaves the ``failed`` marker. Publishing works across
filesystems (a staging folder on another device: copy into a temp file beside the target,
then rename).

What the terminal shows (``main``): a start line, the notebook's printed output and log
lines as the cells run (papermill's ``log_output`` through a handler configured here:
cell stdout on stdout, cell stderr on stderr, papermill's per-cell bookkeeping dropped), and
one final line. The kernel runs over IPC (no "running over TCP without encryption" warning)
and is not interrupted when it is shut down after its last cell (no "KeyboardInterrupt
caught in kernel" line); DataLoader's worker-count advice is silenced. A failed stage ends
with ONE line: the notebook's own error (``ValueError: ...``, the cell it came from), where
the executed notebook is kept (``.staging/<profile>/<stage>/notebooks/...``) and how to
rerun (``python -m smpp_utils STAGE`` / ``dvc repro STAGE``).
"""

from __future__ import annotations

import argparse
import errno
import filecmp
import json
import logging
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path

from ..core import config, paths
from ..core.io import write_json
from .runlock import LockHeld, ParentWatch, RunLock, kill_children
from .stages import NOTEBOOK_STAGES

STAGES = NOTEBOOK_STAGES                          # stage -> notebook, from the registry
EXTRA_STAGES = ("check", "results")
STAGED_DIRS = ("tables", "figures", "metrics")   # copied into staging (read by later stages)


class StageOutputMissing(RuntimeError):
    pass


class StageInterrupted(KeyboardInterrupt):
    """The runner received SIGTERM (raised in the main thread; the kernel is then stopped)."""


def notebook_parameters(stage: str, profile: str) -> dict:
    """What papermill passes: the profile only; the notebook reads its knobs by name
    (``config.stage``), so DVC's params of the stage are exactly what its code reads."""
    return {"profile": profile}


# ----------------------------------------------------------------------------- declared outs
def declared_report_outs(stage: str, profile: str) -> list[str]:
    """The report files ``stage`` must write, relative to the profile's reports folder
    (``tables/table1_datasets.md``): its entry in the stage registry, which dvc.yaml's outs
    are generated from."""
    from . import stages

    return stages.stage(stage).report_files()


def applies(stage: str, profile: str) -> str | None:
    """None if ``stage`` runs on ``profile``'s data source, else why not (one line)."""
    from . import stages

    source = config.knob("data.source", profile)
    st = stages.stage(stage)
    if st.needs <= stages.capabilities(source):
        return None
    missing = ", ".join(sorted(st.needs - stages.capabilities(source)))
    return (f"stage {stage} does not apply to profile {profile}: its data source {source!r} has no "
            f"{missing}; `make repro` runs only the stages that apply (dvc.yaml: python -m smpp_utils dvc-yaml)")


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
        _move(src, dst)
        changed.append(rel)
    return changed


def _move(src: Path, dst: Path) -> None:
    """``os.replace``, or across filesystems (EXDEV) a copy into a temp file in ``dst``'s
    folder, renamed over ``dst`` (atomic there), then ``src`` removed."""
    try:
        os.replace(src, dst)
        return
    except OSError as e:
        if e.errno != errno.EXDEV:
            raise
    fd, tmp = tempfile.mkstemp(prefix=f".{dst.name}.", suffix=".tmp", dir=dst.parent)
    try:
        with os.fdopen(fd, "wb") as out, open(src, "rb") as inp:
            shutil.copyfileobj(inp, out)
            out.flush()
            os.fsync(out.fileno())
        shutil.copystat(src, tmp)
        os.replace(tmp, dst)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    src.unlink()


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
class Guard:
    """What a command-line run shares with its parent watch: once publishing has begun the
    watch lets it finish; once the watch has fired, publishing never begins."""

    def __init__(self):
        self.lock = threading.Lock()
        self.publishing = False

    def begin_publishing(self) -> None:
        with self.lock:                 # blocks forever if the watch has fired (it exits)
            self.publishing = True


def run(stage: str, profile: str | None = None, guard: Guard | None = None) -> list[str]:
    """Run ``stage``; returns the report files it published (relative to the reports folder).
    A notebook stage (and ``results``) holds the profile's run lock (:class:`LockHeld` when
    another run holds it)."""
    from . import preflight

    if stage not in STAGES and stage not in EXTRA_STAGES:
        raise SystemExit(f"unknown stage {stage!r}; expected one of {sorted(STAGES) + list(EXTRA_STAGES)}")
    if stage == "check":
        preflight.check(profile)        # records only under the lock
        print(f"pre-flight ok ({config.active_profile(profile)})")
        return []
    profile = config.active_profile(profile)
    if stage in STAGES and (why := applies(stage, profile)):
        raise SystemExit(why)
    with RunLock(profile, stage):
        if stage == "results":
            from . import results_page

            return [str(p.relative_to(paths.final_reports_dir(profile)))
                    for p in results_page.write(profile)]
        preflight.check(profile, record=False)
        if guard is not None:           # the command line: say what runs, then its output
            print(f"stage {stage} ({STAGES[stage]}.ipynb, profile {profile}): running; "
                  "the notebook's output follows", flush=True)
        return _run_notebook(stage, profile, guard)


# the kernel's advice when num_workers exceeds the cores (notebooks pass the knob as given)
QUIET_WARNINGS = "ignore:This DataLoader will create:UserWarning"


def _kernel_manager_class():
    """nbclient's kernel manager, over IPC sockets in a private temp folder (the kernel then
    does not warn about TCP without encryption) and without the interrupt jupyter_client
    sends before shutting an idle kernel down (the kernel logs it as an ERROR)."""
    from jupyter_client.manager import AsyncKernelManager

    class QuietKernelManager(AsyncKernelManager):
        def __init__(self, **kw):
            if os.name == "posix":
                self._ipc_dir = tempfile.mkdtemp(prefix="smpp-kernel-")
                kw.setdefault("transport", "ipc")
                kw.setdefault("ip", os.path.join(self._ipc_dir, "k"))
            super().__init__(**kw)

        async def _async_interrupt_kernel(self):
            if self.shutting_down:          # idle after its last cell: nothing to interrupt
                return
            await super()._async_interrupt_kernel()

        async def _async_cleanup_resources(self, restart: bool = False) -> None:
            await super()._async_cleanup_resources(restart=restart)
            if not restart and getattr(self, "_ipc_dir", None):
                shutil.rmtree(self._ipc_dir, ignore_errors=True)

    return QuietKernelManager


def _run_notebook(stage: str, profile: str, guard: Guard | None = None) -> list[str]:
    import papermill as pm

    name = STAGES[stage]
    final = paths.final_reports_dir(profile)
    staging, snapshot = stage_reports(profile, stage)
    (staging / "notebooks").mkdir(exist_ok=True)
    env_keys = ("SMPP_PROFILE", paths.STAGING_ENV, "PYTHONWARNINGS")
    env_before = {k: os.environ.get(k) for k in env_keys}
    os.environ["SMPP_PROFILE"] = profile
    os.environ[paths.STAGING_ENV] = str(staging)
    os.environ["PYTHONWARNINGS"] = ",".join(w for w in (env_before["PYTHONWARNINGS"], QUIET_WARNINGS) if w)
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
            kernel_manager_class=_kernel_manager_class(),
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
        if guard is not None:
            guard.begin_publishing()
        published = publish(staging, final, files)
    except BaseException as exc:
        _set_marker(profile, stage, "failed", error=f"{type(exc).__name__}: {exc}"[:2000])
        if isinstance(exc, KeyboardInterrupt):
            kill_children()              # the kernel, if papermill's cleanup did not stop it
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


# ----------------------------------------------------------------------------- terminal
# papermill's own bookkeeping lines (the cell outputs between them are what a person follows)
_BOOKKEEPING = ("Input Notebook:", "Output Notebook:", "Working directory:",
                "Executing notebook with kernel",
                "Executing Cell ", "Ending Cell ", "Black is not installed",
                "Input notebook does not contain a cell with tag 'parameters'")


class _CellOutput(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.getMessage()).startswith(_BOOKKEEPING)


class _Stream(logging.StreamHandler):
    """The stream is looked up when a record is written (so a redirected sys.stdout/stderr,
    e.g. pytest's capture, is honoured); cell text is written as printed."""

    def __init__(self, err: bool):
        super().__init__()
        self.err = err

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage()
        out = sys.stderr if self.err else sys.stdout
        out.write(text if text.endswith("\n") else text + "\n")
        out.flush()


def _stream_notebook_output() -> list[logging.Handler]:
    """Route papermill's logger to the terminal: cell stdout (INFO) to stdout, cell stderr
    (WARNING) and errors to stderr. Returns the handlers (removed by the caller)."""
    log = logging.getLogger("papermill")
    out, err = _Stream(False), _Stream(True)
    out.addFilter(lambda r: r.levelno < logging.WARNING)
    err.setLevel(logging.WARNING)
    for h in (out, err):
        h.addFilter(_CellOutput())
        log.addHandler(h)
    log.setLevel(logging.INFO)
    log.propagate = False
    return [out, err]


def _failure_line(stage: str, profile: str, exc: BaseException) -> tuple[list[str], str]:
    """The lines before the final one (the error's own further lines) and the final line:
    what failed, where the executed notebook is kept, how to rerun."""
    nb = paths.staging_root(profile) / stage / "notebooks" / f"{STAGES[stage]}.ipynb"
    kept = os.path.relpath(nb, paths.ROOT) if nb.is_file() else None
    ename = getattr(exc, "ename", None)
    if ename:                                    # papermill.PapermillExecutionError
        text = str(getattr(exc, "evalue", "") or "")
        what = f"{ename}: " + (text.splitlines() or [""])[0]
        where = f" in cell {exc.exec_count}" if getattr(exc, "exec_count", None) else ""
    else:
        text = str(exc)
        what = f"{type(exc).__name__}: " + (text.splitlines() or [""])[0]
        where = ""
    more = text.splitlines()[1:]
    try:
        prof = "" if profile == config.active_profile(None) else f" --profile {profile}"
    except (ValueError, KeyError, OSError):
        prof = f" --profile {profile}"
    line = (f"stage {stage} FAILED{where} of notebooks/{STAGES[stage]}.ipynb: {what}"
            + (f" | executed notebook kept: {kept}" if kept else "")
            + f" | rerun: python -m smpp_utils {stage}{prof} (or dvc repro {stage})")
    return more, line


def main(argv=None) -> int:
    from .preflight import PreflightError

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("stage", choices=sorted(STAGES) + list(EXTRA_STAGES))
    ap.add_argument("--profile", default=None)
    args = ap.parse_args(argv)
    notebook = args.stage in STAGES
    guard = Guard()
    handlers, watch, old_term = [], None, None
    if notebook:
        handlers = _stream_notebook_output()
        watch = ParentWatch(lambda: _parent_died(args.stage, args.profile, guard)).start()
        if threading.current_thread() is threading.main_thread():
            old_term = signal.signal(signal.SIGTERM, _on_sigterm)
    t0 = time.perf_counter()
    try:
        published = run(args.stage, args.profile, guard if notebook else None)
        if notebook:
            print(f"stage {args.stage} done in {time.perf_counter() - t0:.0f} s: "
                  f"{len(published)} report file(s) changed", flush=True)
    except (PreflightError, LockHeld) as exc:
        print(exc, file=sys.stderr)
        return 2
    except (StageOutputMissing, KeyboardInterrupt, Exception) as exc:   # noqa: B014
        if not notebook:
            raise
        more, line = _failure_line(args.stage, config.active_profile(args.profile), exc)
        for extra in more[:60]:
            print(extra, file=sys.stderr)
        print(line, file=sys.stderr, flush=True)
        return 130 if isinstance(exc, KeyboardInterrupt) else 1
    finally:
        if watch is not None:
            watch.stop()
        if old_term is not None:
            signal.signal(signal.SIGTERM, old_term)
        for h in handlers:
            logging.getLogger("papermill").removeHandler(h)
    return 0


def _on_sigterm(signum, frame):
    raise StageInterrupted(f"terminated (signal {signum})")


def _parent_died(stage: str, profile: str | None, guard: Guard) -> None:
    """ParentWatch's action (a daemon thread): unless publishing has begun, stop the kernel,
    mark the stage failed and exit at once - nothing is published."""
    if not guard.lock.acquire(blocking=False) or guard.publishing:
        return                                   # publishing: let the complete set land
    try:
        prof = config.active_profile(profile)
        print(f"stage {stage}: the command that started this runner died; stopping the "
              "notebook kernel, nothing published", file=sys.stderr, flush=True)
        _set_marker(prof, stage, "failed", error="the parent process died; stopped before publishing")
    except BaseException:                        # noqa: BLE001 - exiting regardless
        pass
    finally:
        kill_children()
        os._exit(1)


if __name__ == "__main__":
    sys.exit(main())
