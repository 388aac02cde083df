"""Local CLIP weights for open_clip architectures, read through the one safe loader
(``core.checkpoint``) and matched to the architecture before they are loaded.

Kept in ``core`` (not ``embed``) because the pre-flight uses it for every stage: it imports
open_clip lazily and nothing from ``embed`` (the project's architecture configs are found
by path, ``embed/model_configs/*.json``). ``embed.encoders.create_clip`` builds on it.

* :func:`load_clip_weights`: the tensors of a ``.safetensors`` or ``torch.save`` file
  (``core.checkpoint.load_weights``; OpenAI's non-parameter keys dropped).
* :func:`load_clip_state`: open_clip's load-time conversions, then a check that every tensor
  fits (:class:`CheckpointMismatch`: ONE line naming the file, the architecture and the first
  differing tensors, instead of torch's 80-line key list or open_clip's
  ``AssertionError: text pos_embed width changed!``), then a strict load; positional
  embeddings of another length are interpolated as open_clip does.
* :func:`check_clip_file`: the same on a freshly built CPU model, for the pre-flight.
"""

from __future__ import annotations

from pathlib import Path

import torch

MODEL_CONFIG_DIR = Path(__file__).resolve().parents[1] / "embed" / "model_configs"


def register_project_models() -> None:
    """Make the project's architectures (``embed/model_configs/*.json``) known to open_clip."""
    import open_clip

    if MODEL_CONFIG_DIR not in getattr(open_clip.factory, "_MODEL_CONFIG_PATHS", []):
        open_clip.add_model_config(MODEL_CONFIG_DIR)


def model_width(model_name: str) -> int | None:
    """``embed_dim`` of an open_clip architecture (project configs included); None when
    unknown (``create_clip`` names that error)."""
    import open_clip

    register_project_models()
    cfg = open_clip.get_model_config(model_name)
    return int(cfg["embed_dim"]) if cfg and "embed_dim" in cfg else None


class CheckpointMismatch(ValueError):
    """A weights file whose tensors do not fit the open_clip architecture (one line)."""


def load_clip_weights(path, mmap: bool = False) -> dict:
    """The tensors of a local CLIP weights file, through ``core.checkpoint.load_weights``
    (OpenAI's non-parameter keys dropped)."""
    from .checkpoint import JIT_EXTRA_KEYS, load_weights

    sd = load_weights(path, "cpu", mmap=mmap)
    return {k: v for k, v in sd.items() if k not in JIT_EXTRA_KEYS}


# positional embeddings whose length open_clip interpolates on load (their width must match)
_RESIZED = ("positional_embedding", "visual.positional_embedding", "text.positional_embedding")


def clip_state_problem(model, state: dict, path, model_name: str) -> str | None:
    """Why ``state`` (after open_clip's key conversions) cannot load into ``model``, in one
    line naming the file, the architecture and the first differing tensors; None if it fits."""
    want = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    got = {k: tuple(v.shape) for k, v in state.items()}
    missing = [k for k in want if k not in got]
    unexpected = [k for k in got if k not in want]
    shapes = [k for k in want if k in got and got[k] != want[k]
              and not (k in _RESIZED and got[k][-1:] == want[k][-1:])]
    if not (missing or unexpected or shapes):
        return None
    parts = []
    if shapes:
        parts.append(f"{len(shapes)} tensor(s) differ in shape, e.g. "
                     + ", ".join(f"{k} {list(got[k])} in the file vs {list(want[k])}" for k in shapes[:2]))
    if missing:
        parts.append(f"{len(missing)} missing, e.g. {missing[:3]}")
    if unexpected:
        parts.append(f"{len(unexpected)} unexpected, e.g. {unexpected[:3]}")
    return (f"{path}: does not fit open_clip model {model_name!r} (another architecture or "
            f"width; set prototypes.clip_model to the file's architecture): " + "; ".join(parts))


def _converted(model, state: dict) -> dict:
    """open_clip's load-time conversions of a state dict (third-party layouts, the old text
    tower layout, a scalar vs 1-d logit scale/bias, a missing logit bias)."""
    from open_clip.convert import convert_state_dict
    from open_clip.model import convert_to_custom_text_state_dict

    sd = convert_state_dict(model, dict(state))
    if "positional_embedding" in sd and not hasattr(model, "positional_embedding"):
        sd = convert_to_custom_text_state_dict(sd)
    for key in ("logit_scale", "logit_bias"):
        have = getattr(model, key, None)
        if key in sd and have is not None and have.ndim != sd[key].ndim:
            sd[key] = sd[key].reshape(have.shape)
    if "logit_bias" not in sd and getattr(model, "logit_bias", None) is not None and "logit_scale" in sd:
        sd["logit_bias"] = torch.zeros_like(sd["logit_scale"])
    sd.pop("text.transformer.embeddings.position_ids", None)
    # buffers the model does not save (open_clip's attn_mask) but a traced archive does
    transient = {n for n, _ in model.named_buffers()} - set(model.state_dict())
    return {k: v for k, v in sd.items() if k not in transient}


def load_clip_state(model, state: dict, path, model_name: str) -> None:
    """Load ``state`` into ``model`` (strict) after checking it fits (one-line
    :class:`CheckpointMismatch` otherwise); positional embeddings of another length are
    interpolated as open_clip does."""
    from open_clip.model import resize_pos_embed, resize_text_pos_embed

    sd = _converted(model, state)
    why = clip_state_problem(model, sd, path, model_name)
    if why:
        raise CheckpointMismatch(why)
    resize_pos_embed(sd, model)
    resize_text_pos_embed(sd, model)
    model.load_state_dict(sd, strict=True)


def check_clip_file(model_name: str, path) -> None:
    """What :func:`create_clip` does with ``path``, on the CPU and without keeping the model:
    the pre-flight's check that the file loads safely and fits ``model_name``."""
    import open_clip

    register_project_models()
    if model_name not in open_clip.list_models():
        raise ValueError(f"unknown open_clip model {model_name!r}")
    state = load_clip_weights(path, mmap=True)
    model = open_clip.create_model(model_name, pretrained=None, device="cpu")
    why = clip_state_problem(model, _converted(model, state), path, model_name)
    if why:
        raise CheckpointMismatch(why)
