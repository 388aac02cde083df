"""open_clip plumbing the prompt model needs: text towers fed with token *embeddings*
(so learned context vectors can replace words), EOT-trimmed text encoding, patch tokens of
the image tower, and loading the stage-02 backbone."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn


class _TextParts:
    """The pieces of an open_clip text tower (CLIP keeps them on the model, CustomTextCLIP
    on ``model.text``), so prompts can be fed as token *embeddings*."""

    def __init__(self, clip):
        src = clip if hasattr(clip, "token_embedding") else getattr(clip, "text", None)
        if src is None or not hasattr(src, "token_embedding"):
            raise TypeError(f"{type(clip).__name__}: no open_clip TextTransformer tower found")
        self.src = src

    def __getattr__(self, name):
        return getattr(self.__dict__["src"], name)


def text_tower_tokens(clip, emb: torch.Tensor) -> torch.Tensor:
    """Run token embeddings [N, L, w] through positional embedding, the causal transformer,
    ln_final and text_projection; returns every position projected [N, L, d]."""
    tp = _TextParts(clip)
    L = emb.shape[1]
    x = emb + tp.positional_embedding[:L].to(emb.dtype)
    mask = tp.attn_mask
    x = tp.transformer(x, attn_mask=None if mask is None else mask[:L, :L])
    x = tp.ln_final(x)
    proj = tp.text_projection
    if proj is None:
        return x
    return proj(x) if isinstance(proj, nn.Module) else x @ proj


def encode_text_trimmed(clip, tokens: torch.Tensor) -> torch.Tensor:
    """``clip.encode_text`` with the padding after the longest text cut off first: exact for
    a causal tower pooled at the EOT token (argmax), and much cheaper for short posts."""
    if getattr(_TextParts(clip), "text_pool_type", "argmax") != "argmax":
        return clip.encode_text(tokens)
    eot = tokens.argmax(dim=-1)
    tokens = tokens[:, :int(eot.max()) + 1]
    out = text_tower_tokens(clip, _TextParts(clip).token_embedding(tokens))
    return out[torch.arange(len(tokens), device=out.device), eot]


def image_tower_tokens(clip, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Pooled image feature [B, d] and projected patch tokens [B, P, d] of an open_clip
    VisionTransformer (the tokens after ln_post, projected with the same ``proj``)."""
    vis = clip.visual
    if not hasattr(vis, "output_tokens") or not hasattr(vis, "proj"):
        raise TypeError(f"{type(vis).__name__}: patch tokens need an open_clip VisionTransformer")
    vis.output_tokens = True
    pooled, tokens = vis(images)
    if vis.proj is not None and tokens.shape[-1] != pooled.shape[-1]:
        tokens = tokens @ vis.proj
    return pooled, tokens


def num_patches(clip) -> int:
    gs = clip.visual.grid_size
    return int(gs[0] * gs[1])



def load_backbone(profile: str, device=None):
    """The CLIP stage 02 used (``prototypes.clip_model``; weights ``prototypes.clip_pretrained``
    or ``models/<profile>/clip_pretrain.pt``): ``(model, preprocess, tokenizer, info)``.
    Call twice for two independent copies (prompt model, direct regression)."""
    from ...core import config, paths
    from ...embed.encoders import clip_checkpoint_path, create_clip

    clip_model = config.knob("prototypes.clip_model", profile)
    ckpt = clip_checkpoint_path(profile)
    if not Path(ckpt).is_file():
        raise FileNotFoundError(f"{ckpt}: missing CLIP checkpoint - run the prototypes stage (02) "
                                "first")
    model, preprocess, tokenizer = create_clip(clip_model, ckpt, device)
    return model, preprocess, tokenizer, {"clip_model": clip_model, "checkpoint": paths.portable(ckpt)}
