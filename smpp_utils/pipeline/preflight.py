"""Pre-flight: refuse a run that cannot succeed before any stage writes anything, and record
what the pipeline reads from outside the project so DVC reruns what depends on it.

    python -m smpp_utils check [--profile P]      (also: python -m smpp_utils.pipeline.runner check)
    python -m smpp_utils.pipeline.preflight [--profile P] [--no-record]

It runs the validation the stages will run, so a stage never meets a problem that was
knowable up front. Each failure is one line naming the params.yaml key
(``paper.data.smpd_root: /x does not exist``, ``default.jrpp.k: ...``) or the file, row/Pid
and field; the CLI exits with status 2 and writes nothing.

* params.yaml loads and validates (types/ranges, via ``config.load_params``; a key stated
  twice is refused by ``core.strict_yaml``);
* the cross-knob rules of ``pipeline.constraints`` (bank size vs k/shortlist, seeds, k' >= 1, PCA
  vs embedding width, learning rates);
* ``data.source: smpd``: the folder ``data.smpd_root`` exists and holds the official train
  files, and (full check) the SMPD reader's complete pass over them
  (``data.smpd.read_smpd``: every table, field, date, label and image header, with
  ``data.lenient``; pixels are not decoded) - the very reader stage ``data`` runs;
* a non-empty ``prototypes.clip_pretrained`` is an existing file which (full check) the one
  safe loader opens (``core.checkpoint``: tensors only; a TorchScript archive is refused with
  the conversion command) and whose tensors fit ``prototypes.clip_model`` (a wrong
  architecture or width is one line); an existing ``models/<profile>/clip_pretrain.pt`` (the
  backbone stages 03/09/10 start from) must open safely too.

The full check runs in stage ``check`` (and ``--no-record``); each stage's own pre-flight
(``pipeline.runner``) re-runs the cheap part: knobs, files present, the cross-knob rules and
the checkpoints' zip layout (no unpickling).

Records (stage ``check`` of dvc.yaml, always run first): ``data/<profile>/external/smpd.json``
(sha256 and size of every official metadata file, plus a hash of the image list with each
image's size) and ``data/<profile>/external/checkpoint.json`` (sha256 of the local CLIP
checkpoint). Stage ``data`` depends on the first, ``prototypes`` on the second: pointing
``smpd_root`` at other files, or replacing the checkpoint, reruns exactly what reads them.
Hashing the real SMPD (~305k images listed, metadata a few hundred MB) takes seconds: image
bytes are not hashed, only their paths and sizes (the reader verifies each image's header).
Nothing is recorded while another run holds the profile's lock (``pipeline.runlock``): ``check``
then fails, naming that run's PID, instead of rewriting files a running stage depends on.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from ..core import config, knobs, paths
from ..core.io import write_json

from ..data.manifest import external_dir, sha256_file, smpd_manifest  # noqa: F401 (re-exported)


class PreflightError(ValueError):
    """One line per problem, each naming the params.yaml key (the CLI exits with status 2)."""

    def __init__(self, problems: list[str]):
        self.problems = list(problems)
        super().__init__("pre-flight check failed (nothing was run):\n"
                         + "\n".join(f"  {p}" for p in self.problems))


def _raw_files():
    from ..data.schema import RAW_FILES

    return RAW_FILES


def problems(profile: str, params: dict) -> list[str]:
    """Everything wrong with the external inputs of ``profile`` (empty when it can run)."""
    block = params[profile]
    data, proto = block["data"], block["prototypes"]
    found = []
    if data.get("source") == "smpd":
        key = f"{profile}.data.smpd_root"
        root = paths.resolve(data.get("smpd_root"))
        if root is None:
            found.append(f"{key}: empty; data.source is smpd, so it must name the folder of the "
                         "official SMPD files")
        elif not root.exists():
            found.append(f"{key}: {root} does not exist")
        elif not root.is_dir():
            found.append(f"{key}: {root} is not a folder")
        else:
            missing = [name.format(split="train") for name in _raw_files().values()
                       if not (root / name.format(split="train")).is_file()]
            if missing:
                found.append(f"{key}: {root} lacks {', '.join(missing)} (the official SMPD train files)")
    if data.get("source") == "smp_video":
        found += _smp_video_problems(profile, data)
    ckpt = proto.get("clip_pretrained")
    if ckpt not in (None, "") and data.get("source") != "smp_video":   # no CLIP stage runs there
        key = f"{profile}.prototypes.clip_pretrained"
        path = paths.resolve(ckpt)
        if not path.exists():
            found.append(f"{key}: {path} does not exist")
        elif not path.is_file():
            found.append(f"{key}: {path} is not a file (a local open_clip checkpoint)")
    return found


def content_problems(profile: str, params: dict, deep: bool = True) -> tuple[list[str], dict]:
    """What the stages would refuse in the external inputs' content, and facts for
    ``pipeline.constraints`` (``labelled_train`` of real SMPD). ``deep``: the reader's full pass
    and the checkpoints opened; otherwise only the checkpoints' zip layout (and the facts
    that an earlier data stage recorded). Call after :func:`problems` found nothing."""
    block = params[profile]
    data, proto = block["data"], block["prototypes"]
    found, facts = [], {}
    if data.get("source") == "smpd":
        if deep:
            found += _smpd_problems(data, facts)
        else:
            facts.update(_recorded_facts(profile))
    ckpt = proto.get("clip_pretrained")
    if ckpt not in (None, ""):
        why = _clip_problem(proto["clip_model"], paths.resolve(ckpt), deep, match=True)
        if why:
            found.append(f"{profile}.prototypes.clip_pretrained: {why}")
    stage02 = paths.models_dir(profile) / "clip_pretrain.pt"
    if stage02.is_file():
        why = _clip_problem(proto["clip_model"], stage02, deep, match=False)
        if why:
            found.append(f"{why} (written by stage prototypes; delete it to rebuild it)")
    return found, facts


def _smpd_problems(data: dict, facts: dict) -> list[str]:
    import warnings

    from ..data import smpd

    opts = {"date_window": data["date_window"], "max_image_pixels": data["max_image_pixels"]}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("always")
            _, report = smpd.read_smpd(paths.resolve(data["smpd_root"]), lenient=bool(data.get("lenient")),
                                       check_images=True, decode_images=False, **opts)
    except smpd.SMPDFormatError as exc:
        return list(exc.problems)
    facts["labelled_train"] = int(report["splits"]["train"]["labelled"])
    return []


def _recorded_facts(profile: str) -> dict:
    """``labelled_train`` from the canonical table stage data wrote (its reader report)."""
    from ..core.io import read_parquet_meta

    table = paths.data_dir(profile) / "posts.parquet"
    try:
        return {"labelled_train": int(read_parquet_meta(table)["report"]["splits"]["train"]["labelled"])}
    except (OSError, KeyError, TypeError, ValueError):
        return {}


def _clip_problem(model_name: str, path: Path, deep: bool, match: bool) -> str | None:
    """Why the CLIP weights file ``path`` would be refused (None when it loads): its layout
    (always), and with ``deep`` the safe load and (``match``) the fit to ``model_name``."""
    from ..core.checkpoint import UnsafeCheckpoint, _refuse_kind, inspect_file

    try:
        _refuse_kind(path, inspect_file(path))
        if deep:
            from ..core.clip_weights import check_clip_file, load_clip_weights

            if match:
                check_clip_file(model_name, path)    # CheckpointMismatch is a ValueError
            else:
                load_clip_weights(path, mmap=True)
    except (UnsafeCheckpoint, OSError, ValueError) as exc:
        return str(exc)
    return None


def _smp_video_root(data: dict):
    import os

    from ..analysis.smp_video import ROOT_ENV

    return paths.resolve(os.environ.get(ROOT_ENV) or data.get("smp_video_root"))


def _smp_video_problems(profile: str, data: dict) -> list[str]:
    """The SMP-Video folder: present, and (when it is) the reader's full validation pass."""
    from ..data import smp_video

    key = f"{profile}.data.smp_video_root"
    root = _smp_video_root(data)
    if root is None or not root.is_dir():
        return [f"{key}: {root or '(empty)'} does not exist; point it at the SMP-Video folder "
                "(train/, test/), read in place"]
    try:
        smp_video.read_smp_video(root)
    except smp_video.SMPVideoFormatError as exc:
        return [f"{key}: {line}" for line in exc.problems]
    return []


def external_inputs(profile: str, params: dict) -> dict[str, dict]:
    """``{"source": ..., "checkpoint": ...}``: what the stages read from outside the project,
    by content (the official SMPD or SMP-Video folder; the local CLIP checkpoint)."""
    block = params[profile]
    data, proto = block["data"], block["prototypes"]
    if data.get("source") == "smpd":
        source = smpd_manifest(paths.resolve(data["smpd_root"]))
    elif data.get("source") == "smp_video":
        from ..data.smp_video import file_hashes

        root = _smp_video_root(data)
        source = {"source": "smp_video", "root": str(root), "files": file_hashes(root)}
    else:
        source = {"source": data.get("source")}
    ckpt = proto.get("clip_pretrained") or "" if data.get("source") != "smp_video" else ""
    if ckpt:
        path = paths.resolve(ckpt)
        checkpoint = {"path": str(path), "sha256": sha256_file(path), "bytes": path.stat().st_size}
    else:
        checkpoint = {"path": "", "note": "no local checkpoint: stage prototypes pre-trains CLIP"}
    return {"source": source, "checkpoint": checkpoint}


def check(profile: str | None = None, record: bool = True, deep: bool | None = None) -> dict:
    """Validate params and external inputs (raise :class:`PreflightError`), then write the
    external-input hashes (``record``; refused while another run holds the profile's lock).
    ``deep`` (default: ``record``): the full content check (reader pass, checkpoints
    opened). Returns the hashes written."""
    from . import constraints

    deep = record if deep is None else deep
    try:
        params = config.load_params()
        profile = config.active_profile(profile, params)
    except (ValueError, KeyError, TypeError) as exc:      # knob validation names the key
        raise PreflightError([str(exc).strip("'\"")]) from None
    from .registries import registries         # the registry-backed knobs too
    if found := knobs.registry_problems(params, registries()):
        raise PreflightError(found)
    found = problems(profile, params)
    if found:
        raise PreflightError(found)
    found, facts = content_problems(profile, params, deep)
    found += constraints.problems(profile, params, facts)
    if found:
        raise PreflightError(found)
    if not record:
        return {}
    from .runlock import LockHeld, RunLock

    try:
        with RunLock(profile, "check"):
            ext = external_inputs(profile, params)
            for name, content in ext.items():
                path = external_dir(profile) / f"{name}.json"
                if not path.is_file() or path.read_text() != _json_text(content):
                    write_json(path, content)
    except LockHeld as exc:
        raise PreflightError([str(exc)]) from None
    return ext


def _json_text(obj) -> str:
    return json.dumps(obj, indent=2, sort_keys=True) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="pre-flight check of params.yaml and external inputs")
    ap.add_argument("--profile", default=None)
    ap.add_argument("--no-record", action="store_true",
                    help="the full check, but write no hashes (allowed while a run holds the lock)")
    args = ap.parse_args(argv)
    try:
        ext = check(args.profile, record=not args.no_record, deep=True)
    except PreflightError as exc:
        print(exc, file=sys.stderr)
        return 2
    prof = config.active_profile(args.profile)
    if ext:
        print(f"pre-flight ok ({prof}): external inputs recorded in "
              f"{os.path.relpath(external_dir(prof), paths.ROOT)}/")
    else:
        print(f"pre-flight ok ({prof})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
