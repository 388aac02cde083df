"""Checkpoints that cannot execute code and are byte-stable.

* ``load_checkpoint`` always uses ``torch.load(weights_only=True)``: a file holding anything but
  tensors, plain containers and numbers/strings is refused with an error naming the file, and no
  code in it runs (a planted pickle's ``__reduce__`` is never called).
* ``save_checkpoint`` serialises into an in-memory buffer (the zip's record prefix is then the
  fixed name ``archive`` instead of the temp file's stem) and writes the bytes atomically, so the
  same state gives the same bytes whatever the target path.

State must be plain: state dicts, tensors, lists/dicts of numbers and strings. Use
``numpy_rng_to_plain``/``numpy_rng_from_plain`` for numpy's RNG state.
"""

from __future__ import annotations

import io as _io
import pickle
from pathlib import Path

import numpy as np
import torch

from .io import atomic_path


class UnsafeCheckpoint(RuntimeError):
    """A checkpoint file that does not load under ``weights_only=True``."""


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


def load_checkpoint(path, map_location="cpu") -> dict:
    path = Path(path)
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, AttributeError, EOFError, ValueError) as e:
        raise UnsafeCheckpoint(
            f"{path}: not a plain checkpoint (refused to load it with weights_only=True; it may "
            f"hold code or be corrupt; delete it to start from scratch): {str(e).splitlines()[0]}"
        ) from e


def numpy_rng_to_plain(state=None) -> dict:
    """``np.random.get_state()`` as a dict of a str, a uint32 tensor and ints/floats."""
    name, keys, pos, has_gauss, gauss = state if state is not None else np.random.get_state()
    return {"name": str(name), "keys": torch.from_numpy(np.asarray(keys, dtype=np.int64)),
            "pos": int(pos), "has_gauss": int(has_gauss), "gauss": float(gauss)}


def numpy_rng_from_plain(d: dict) -> tuple:
    return (d["name"], d["keys"].numpy().astype(np.uint32), int(d["pos"]), int(d["has_gauss"]),
            float(d["gauss"]))
