"""Pre-flight: refuse a run that cannot succeed before any stage writes anything, and record
what the pipeline reads from outside the project so DVC reruns what depends on it.

    python -m smpp_utils check [--profile P]      (also: python -m smpp_utils.core.pipeline check)

Checks, each failure naming the params.yaml key (``paper.data.smpd_root: /x does not exist``):
params.yaml loads and validates (types/ranges, via ``config.load_params``); with
``data.source: smpd`` the folder ``data.smpd_root`` exists and holds the seven official train
files; a non-empty ``prototypes.clip_pretrained`` is an existing file.

Records (stage ``check`` of dvc.yaml, always run first): ``data/<profile>/external/smpd.json``
(sha256 and size of every official metadata file, plus a hash of the image list with each
image's size) and ``data/<profile>/external/checkpoint.json`` (sha256 of the local CLIP
checkpoint). Stage ``data`` depends on the first, ``prototypes`` on the second: pointing
``smpd_root`` at other files, or replacing the checkpoint, reruns exactly what reads them.
Hashing the real SMPD (~305k images listed, metadata a few hundred MB) takes seconds: image
bytes are not hashed, only their paths and sizes (the reader verifies each image's header).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from . import config, knobs, paths
from .io import write_json

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
    ckpt = proto.get("clip_pretrained")
    if ckpt not in (None, ""):
        key = f"{profile}.prototypes.clip_pretrained"
        path = paths.resolve(ckpt)
        if not path.exists():
            found.append(f"{key}: {path} does not exist")
        elif not path.is_file():
            found.append(f"{key}: {path} is not a file (a local open_clip checkpoint)")
    return found


def external_inputs(profile: str, params: dict) -> dict[str, dict]:
    """``{"smpd": ..., "checkpoint": ...}``: what the data and prototypes stages read from
    outside the project, by content."""
    block = params[profile]
    data, proto = block["data"], block["prototypes"]
    smpd = smpd_manifest(paths.resolve(data["smpd_root"])) if data.get("source") == "smpd" \
        else {"source": data.get("source")}
    ckpt = proto.get("clip_pretrained") or ""
    if ckpt:
        path = paths.resolve(ckpt)
        checkpoint = {"path": str(path), "sha256": sha256_file(path), "bytes": path.stat().st_size}
    else:
        checkpoint = {"path": "", "note": "no local checkpoint: stage prototypes pre-trains CLIP"}
    return {"smpd": smpd, "checkpoint": checkpoint}


def check(profile: str | None = None, record: bool = True) -> dict:
    """Validate params and external inputs (raise :class:`PreflightError`), then write the
    external-input hashes (``record``). Returns them."""
    try:
        params = config.load_params()
        profile = config.active_profile(profile, params)
    except (ValueError, KeyError, TypeError) as exc:      # knob validation names the key
        raise PreflightError([str(exc).strip("'\"")]) from None
    from ..pipeline.registries import registries         # the registry-backed knobs too
    if found := knobs.registry_problems(params, registries()):
        raise PreflightError(found)
    found = problems(profile, params)
    if found:
        raise PreflightError(found)
    if not record:
        return {}
    ext = external_inputs(profile, params)
    for name, content in ext.items():
        path = external_dir(profile) / f"{name}.json"
        if not path.is_file() or path.read_text() != _json_text(content):
            write_json(path, content)
    return ext


def _json_text(obj) -> str:
    return json.dumps(obj, indent=2, sort_keys=True) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="pre-flight check of params.yaml and external inputs")
    ap.add_argument("--profile", default=None)
    ap.add_argument("--no-record", action="store_true", help="check only; write no hashes")
    args = ap.parse_args(argv)
    try:
        ext = check(args.profile, record=not args.no_record)
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
