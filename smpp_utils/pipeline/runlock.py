"""One run at a time per profile, and no run that outlives the command that started it.

``RunLock(profile, stage)`` holds an exclusive ``fcntl.flock`` on
``.staging/<profile>/run.lock`` for as long as a stage runs (``pipeline.runner``) or ``check``
records its hashes (``pipeline.preflight``). A second runner of the same profile (another
``dvc repro``, or ``python -m smpp_utils STAGE`` beside one) is refused at once with
:class:`LockHeld`, naming the holder's stage and PID as the holder wrote them into the lock
file. The kernel releases a flock when its holder exits, however it exits (``kill -9``
included), so a stale lock file never blocks a later run; the file descriptor is not
inherited by the notebook kernel (Python opens it close-on-exec), so a lingering kernel
cannot hold the lock either. Other profiles have their own locks and run side by side.

``ParentWatch`` stops a runner whose parent (``dvc``, ``make``, a shell) has died: a daemon
thread polls ``os.getppid()`` and, when the runner has been re-parented, calls its
``on_death`` (the runner terminates the notebook kernel and its children and exits without
publishing). Polling works wherever ``getppid`` does (Linux, macOS), unlike ``prctl``'s
PDEATHSIG, which fires when the parent *thread* exits and only on Linux.

On Windows (no ``fcntl``) the lock is a no-op.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from pathlib import Path

from ..core import paths

try:
    import fcntl
except ImportError:          # Windows
    fcntl = None

LOCK_NAME = "run.lock"


class LockHeld(RuntimeError):
    """Another process holds the profile's run lock (the message names it)."""


def lock_path(profile: str) -> Path:
    return paths.staging_root(profile) / LOCK_NAME


def holder(profile: str) -> dict:
    """What the current (or last) holder wrote into the lock file ({} when unreadable)."""
    try:
        return json.loads(lock_path(profile).read_text() or "{}")
    except (OSError, ValueError):
        return {}


class RunLock:
    """``with RunLock(profile, stage):`` - exclusive per profile, refused (not waited for)
    when held: :class:`LockHeld` names the holder."""

    def __init__(self, profile: str, stage: str):
        self.profile, self.stage = profile, stage
        self.path = lock_path(profile)
        self.fd: int | None = None

    def __enter__(self) -> "RunLock":
        if fcntl is None:
            return self
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise LockHeld(self._busy_message()) from None
        info = {"profile": self.profile, "stage": self.stage, "pid": os.getpid(),
                "started": time.strftime("%Y-%m-%dT%H:%M:%S"),
                "command": " ".join([os.path.basename(sys.executable), *sys.argv])[:300]}
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(info, sort_keys=True) + "\n").encode(), 0)
        self.fd = fd
        return self

    def __exit__(self, *exc) -> None:
        self.release()

    def release(self) -> None:
        if self.fd is not None:
            try:
                os.ftruncate(self.fd, 0)
            except OSError:
                pass
            os.close(self.fd)          # closing the descriptor releases the flock
            self.fd = None

    def _busy_message(self) -> str:
        h = holder(self.profile)
        who = (f"stage {h.get('stage', '?')} (PID {h.get('pid', '?')}, since {h.get('started', '?')})"
               if h else "another process")
        return (f"profile {self.profile} is busy: {who} holds {os.path.relpath(self.path, paths.ROOT)}; "
                f"wait for it to finish or stop it (kill {h.get('pid', '<pid>')}); "
                f"{self.stage} did not run")


class ParentWatch:
    """Call ``on_death()`` (from a daemon thread) once this process's parent has died, i.e.
    ``os.getppid()`` changed from its value at :meth:`start`."""

    def __init__(self, on_death, interval: float = 0.5):
        self.on_death, self.interval = on_death, interval
        self._stop = threading.Event()
        self.ppid = os.getppid()
        self._thread = threading.Thread(target=self._run, name="parent-watch", daemon=True)

    def start(self) -> "ParentWatch":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            if os.getppid() != self.ppid:
                self.on_death()
                return


def kill_children(timeout: float = 3.0) -> list[int]:
    """Terminate every descendant process of this one (the notebook kernel and what it
    started), then kill those still alive after ``timeout`` s. Returns their PIDs."""
    import psutil

    me = psutil.Process()
    kids = me.children(recursive=True)
    for p in kids:
        try:
            p.terminate()
        except psutil.NoSuchProcess:
            pass
    _, alive = psutil.wait_procs(kids, timeout=timeout)
    for p in alive:
        try:
            p.kill()
        except psutil.NoSuchProcess:
            pass
    return [p.pid for p in kids]
