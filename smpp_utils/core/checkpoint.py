"""Checkpoints that cannot execute code and are byte-stable: the ONE loader of every weights
file the study opens (trainer checkpoints, the prompt model, ``models/<profile>/clip_pretrain.pt``,
the local CLIP file ``prototypes.clip_pretrained``).

* :func:`load_checkpoint` reads a ``torch.save`` file with ``torch.load(weights_only=True)``
  only: a file holding anything but tensors, plain containers and numbers/strings is refused
  with an error naming the file, and no code in it runs (a planted pickle's ``__reduce__`` is
  never called). Before unpickling, the zip layout is inspected (:func:`inspect_file`):
  a TorchScript archive (``<prefix>/constants.pkl``, e.g. OpenAI's released ``ViT-B-32.pt``)
  is refused with the one-time conversion command (below), and a ``torch.save`` zip that
  also carries a ``<prefix>/code/`` folder (the layout trick that made ``torch.load(...,
  weights_only=False)`` look like TorchScript) is refused without reading it.
* :func:`load_weights` returns a model's tensors from a ``.safetensors`` file (no pickle at
  all) or a ``torch.save`` file (a state dict, or a dict with a ``state_dict`` key).
* Metadata stored beside weights is a JSON string (:func:`meta_to_json` / :func:`read_meta`);
  checkpoints written earlier with a dict of plain values still load (``weights_only=True``
  admits only plain types).
* ``save_checkpoint`` serialises into an in-memory buffer (the zip's record prefix is then the
  fixed name ``archive`` instead of the temp file's stem) and writes the bytes atomically, so the
  same state gives the same bytes whatever the target path.

TorchScript is never loaded implicitly: ``torch.jit.load`` runs the archive's TorchScript
(``__setstate__`` methods, registered operators), which PyTorch does not treat as safe for
untrusted files. Convert a file you trust once, then point the knob at the result:

    python -m smpp_utils.core.checkpoint convert ViT-B-32.pt ViT-B-32.safetensors --trust-torchscript

State must be plain: state dicts, tensors, lists/dicts of numbers and strings. Use
``numpy_rng_to_plain``/``numpy_rng_from_plain`` for numpy's RNG state.
"""

from __future__ import annotations

import argparse
import io as _io
import json
import pickle
import struct
import sys
import zipfile
from pathlib import Path

import numpy as np
import torch

from .io import atomic_path

CONVERT_HINT = ("convert it once with `python -m smpp_utils.core.checkpoint convert {path} "
                "{stem}.safetensors --trust-torchscript` (only for a file you trust, e.g. "
                "OpenAI's release) and point the knob at the .safetensors file")
# keys OpenAI's TorchScript CLIP carries beside the weights (not parameters)
JIT_EXTRA_KEYS = ("input_resolution", "context_length", "vocab_size")


class UnsafeCheckpoint(RuntimeError):
    """A checkpoint file that does not load as plain tensors (``weights_only=True``)."""


# ----------------------------------------------------------------------------- inspection
def _safetensors_header(path: Path) -> bool:
    """The file starts like a safetensors file: an 8-byte little-endian header length, then
    a JSON object."""
    with open(path, "rb") as fh:
        head = fh.read(9)
    if len(head) < 9:
        return False
    (n,) = struct.unpack("<Q", head[:8])
    return head[8:9] == b"{" and 2 <= n <= path.stat().st_size - 8


def inspect_file(path) -> str:
    """What kind of weights file ``path`` is, from its bytes (never by unpickling):
    ``safetensors`` | ``torchscript`` (zip with ``<prefix>/constants.pkl``) |
    ``code-in-zip`` (a zip with a ``<prefix>/code/`` entry but no TorchScript layout) |
    ``torch-zip`` (``torch.save``) | ``zip`` (another zip) | ``legacy`` (other bytes: the
    pre-1.6 ``torch.save`` format or not a checkpoint; ``weights_only=True`` judges it)."""
    path = Path(path)
    if _safetensors_header(path):
        return "safetensors"
    if not zipfile.is_zipfile(path):
        return "legacy"
    try:
        with zipfile.ZipFile(path) as z:
            names = z.namelist()
    except (zipfile.BadZipFile, OSError, ValueError):
        return "legacy"
    parts = [n.split("/") for n in names]
    if any(len(p) == 2 and p[1] == "constants.pkl" for p in parts):
        return "torchscript"
    if any(len(p) >= 3 and p[1] == "code" for p in parts) or any("/code/" in n for n in names):
        return "code-in-zip"
    if any(len(p) == 2 and p[1] == "data.pkl" for p in parts):
        return "torch-zip"
    return "zip"


def _refuse_kind(path: Path, kind: str) -> None:
    if kind == "torchscript":
        raise UnsafeCheckpoint(
            f"{path}: a TorchScript archive (it holds constants.pkl and code/); the study never "
            f"loads TorchScript (it can run code); "
            + CONVERT_HINT.format(path=path, stem=path.with_suffix("")))
    if kind == "code-in-zip":
        raise UnsafeCheckpoint(
            f"{path}: a zip holding a code/ folder without TorchScript's layout (no "
            f"constants.pkl) - not a checkpoint this study writes or a real TorchScript file; "
            f"refused without reading it (weights_only)")


# ----------------------------------------------------------------------------- load
def load_checkpoint(path, map_location="cpu", *, mmap: bool = False) -> dict:
    """A ``torch.save`` file as plain Python/tensors (``weights_only=True``; see the module
    docstring for what is refused). ``mmap``: map the tensors instead of reading them (cheap
    validation of a large file)."""
    path = Path(path)
    kind = inspect_file(path)
    _refuse_kind(path, kind)
    if kind == "safetensors":
        return _load_safetensors(path, map_location)
    try:
        return torch.load(path, map_location=map_location, weights_only=True,
                          mmap=mmap and kind == "torch-zip")
    except (pickle.UnpicklingError, RuntimeError, AttributeError, EOFError, ValueError,
            TypeError, KeyError, IndexError, zipfile.BadZipFile, struct.error) as e:
        raise UnsafeCheckpoint(
            f"{path}: not a plain checkpoint (refused to load it with weights_only=True; it may "
            f"hold code or be corrupt; delete it to start from scratch): {_reason(e)}") from None


# torch's own advice in the error (re-run with weights_only=False, file an issue) is not ours
_TORCH_BOILERPLATE = ("Weights only load failed", "Please file an issue", "Check the documentation")


def _reason(e: BaseException) -> str:
    """The informative line of torch's refusal (e.g. 'Trying to load unsupported GLOBAL
    posix.system ...'), at most 200 characters."""
    lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
    keep = [ln for ln in lines if not ln.startswith(_TORCH_BOILERPLATE)]
    text = (keep or lines or [type(e).__name__])[0]
    return text if len(text) <= 200 else text[:197] + "..."


def _load_safetensors(path: Path, map_location="cpu") -> dict:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    device = str(map_location) if isinstance(map_location, (str, torch.device)) else "cpu"
    try:
        return load_file(str(path), device=device)
    except (SafetensorError, OSError, ValueError, RuntimeError) as e:
        raise UnsafeCheckpoint(f"{path}: not a readable safetensors file: {_reason(e)}") from None


def load_weights(path, map_location="cpu", *, mmap: bool = False) -> dict[str, torch.Tensor]:
    """A model's weights (name -> tensor) from a ``.safetensors`` file or a ``torch.save``
    file holding a state dict or ``{'state_dict': ...}``; ``module.`` prefixes (DDP) are
    dropped. Anything else is refused naming the file."""
    path = Path(path)
    ckpt = load_checkpoint(path, map_location, mmap=mmap)
    sd = ckpt.get("state_dict", ckpt) if isinstance(ckpt, dict) else ckpt
    if not isinstance(sd, dict) or not sd:
        raise UnsafeCheckpoint(f"{path}: holds no state dict (expected name -> tensor, or a "
                               f"dict with a 'state_dict' key), got {type(sd).__name__}")
    bad = [k for k, v in sd.items() if not isinstance(k, str) or not torch.is_tensor(v)]
    if bad:
        raise UnsafeCheckpoint(f"{path}: the state dict holds non-tensor entries, e.g. "
                               f"{[str(k) for k in bad[:3]]}")
    if all(k.startswith("module.") for k in sd):
        sd = {k[len("module."):]: v for k, v in sd.items()}
    return sd


# ----------------------------------------------------------------------------- metadata
def meta_to_json(meta: dict | None) -> str:
    """Metadata to store beside weights: a JSON string (sorted keys), never pickled objects."""
    return json.dumps(dict(meta or {}), sort_keys=True, allow_nan=False)


def read_meta(value) -> dict:
    """The metadata :func:`meta_to_json` stored (a dict of plain values, as older checkpoints
    of this study stored it, is accepted as is)."""
    if value is None:
        return {}
    if isinstance(value, dict):
        return value
    if isinstance(value, (bytes, str)):
        out = json.loads(value)
        if isinstance(out, dict):
            return out
    raise UnsafeCheckpoint(f"checkpoint metadata: expected a JSON object string, got {type(value).__name__}")


# ----------------------------------------------------------------------------- save
def checkpoint_bytes(state: dict) -> bytes:
    buf = _io.BytesIO()
    torch.save(state, buf)
    return buf.getvalue()


def save_checkpoint(path, state: dict) -> Path:
    path = Path(path)
    data = checkpoint_bytes(state)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        Path(tmp).write_bytes(data)
    return path


def save_weights(path, state_dict: dict, meta: dict | None = None) -> Path:
    """``state_dict`` as a ``.safetensors`` file (atomic), ``meta`` as its JSON metadata."""
    from safetensors.torch import save

    path = Path(path)
    tensors = {k: v.detach().cpu().contiguous() for k, v in state_dict.items()}
    data = save(tensors, metadata={"smpp_meta": meta_to_json(meta)})
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        Path(tmp).write_bytes(data)
    return path


# ----------------------------------------------------------------------------- RNG state
def numpy_rng_to_plain(state=None) -> dict:
    """``np.random.get_state()`` as a dict of a str, a uint32 tensor and ints/floats."""
    name, keys, pos, has_gauss, gauss = state if state is not None else np.random.get_state()
    return {"name": str(name), "keys": torch.from_numpy(np.asarray(keys, dtype=np.int64)),
            "pos": int(pos), "has_gauss": int(has_gauss), "gauss": float(gauss)}


def numpy_rng_from_plain(d: dict) -> tuple:
    return (d["name"], d["keys"].numpy().astype(np.uint32), int(d["pos"]), int(d["has_gauss"]),
            float(d["gauss"]))


# ----------------------------------------------------------------------------- conversion
def convert_torchscript(src, dst) -> Path:
    """The one place TorchScript is loaded, on the user's explicit request: the archive's
    weights (``torch.jit.load(...).state_dict()``, OpenAI's extra keys dropped) written to
    ``dst`` as safetensors."""
    src, dst = Path(src), Path(dst)
    if inspect_file(src) != "torchscript":
        raise UnsafeCheckpoint(f"{src}: not a TorchScript archive (no constants.pkl); nothing "
                               "to convert")
    module = torch.jit.load(str(src), map_location="cpu")
    sd = {k: v for k, v in module.state_dict().items() if k not in JIT_EXTRA_KEYS}
    return save_weights(dst, sd, {"converted_from": src.name})


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m smpp_utils.core.checkpoint",
                                 description="Inspect a weights file, or convert a trusted "
                                             "TorchScript archive to safetensors once.")
    sub = ap.add_subparsers(dest="cmd", required=True)
    i = sub.add_parser("inspect", help="print the file's kind and whether the study loads it")
    i.add_argument("path")
    c = sub.add_parser("convert", help="TorchScript archive -> .safetensors (runs torch.jit.load)")
    c.add_argument("src")
    c.add_argument("dst")
    c.add_argument("--trust-torchscript", action="store_true",
                   help="required: loading TorchScript can run the archive's code")
    args = ap.parse_args(argv)
    try:
        if args.cmd == "inspect":
            kind = inspect_file(args.path)
            sd = load_weights(args.path, mmap=True)
            print(f"{args.path}: {kind}, {len(sd)} tensors, loads safely")
        else:
            if not args.trust_torchscript:
                print(f"{args.src}: refusing to load TorchScript without --trust-torchscript "
                      "(it can run the archive's code)", file=sys.stderr)
                return 2
            out = convert_torchscript(args.src, args.dst)
            print(f"{args.src} -> {out}: set prototypes.clip_pretrained to {out}")
    except (UnsafeCheckpoint, OSError) as e:
        print(e, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
