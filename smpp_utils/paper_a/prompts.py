"""Paper A, stage 1 (Sec. 3): CLIP fine-tuned as a 77-subcategory classifier, anchored on
hierarchical prototypes, with dual-grained (global + local) prompts and a cross-modal
projection. The network never sees popularity; its features (CLIPFT) feed the boosting stage.

Pieces, each a small function or module:

* :class:`PrototypeBank` - fixed visual/textual prototypes per subcategory and category
  (stage 02), the class names and the subcategory -> category map.
* :class:`PromptCLIP` - the model: global prompts (CoOp-style context prepended to each class
  name, Sec. 3.2), local prompts (token-level image-patch x text-token similarity with learned
  spatial weights, Sec. 3.2), cross-modal projection (self-attention over image feature and
  prototypes, Sec. 3.3) with a linear classification head on the enhanced feature.
* :class:`ImageBank` - images decoded once into a float16 tensor when they fit in memory
  (default/ci profiles), streamed with a DataLoader otherwise (paper profile).
* :func:`fit_loop` - a compact AdamW loop shared with ``smpp_utils.paper_a.direct``.
* :func:`extract` / :func:`export_clipft` / :func:`accuracy_report` - CLIPFT features, the
  per-sample classification loss and the 77-way accuracies.

Design choices (documented here and in notebook 03):

* Enhanced-feature classifier: a linear head (``nn.Linear(d, K)``) on the enhanced feature.
  Its cross-entropy is part of the class-level (global) objective:
  ``L_global = CE(global-prompt logits) + CE(enhanced-head logits)``.
* Training uses the prototypes of the post's own class (Sec. 3.3); inference uses
  similarity-weighted prototypes ``softmax(x . P_all / t) . P_all`` (visual and textual, at
  subcategory and category level) - ``train_prototypes="soft"`` uses the inference rule in
  training as well (removes the train/test gap; not the paper's setting).
* Final class scores: the mean of the global, local and enhanced logits.
* Unseen class: a post whose subcategory has no prototype (not among the classifier's classes)
  gets label -1; it counts as a miss in top-1/top-5 and its ``cls_loss`` is the cross-entropy
  against the uniform distribution (>= log K, i.e. ranked as hard). A *train* post with an
  unknown subcategory is an error (the prototypes were built from the train split).
* With ``freeze_backbone`` the contrastive term has no trainable input and is skipped.
* The token-embedding (vocabulary) table is never trained (as in CoOp); everything else of
  the backbone is, unless ``freeze_backbone``.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, Sequence

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from ..core.device import autocast, seed_everything
from ..core.io import atomic_path, save_arrays

# Order of the CLIPFT feature blocks (Paper A Sec. 3.4: F = [image, text, global, local,
# enhanced, class probabilities]); `clipft_matrix` concatenates them in this order.
FEATURE_BLOCKS = ("image", "text", "global", "local", "enhanced", "probs")


# ============================================================================ prototypes
@dataclass
class PrototypeBank:
    """Fixed anchors of Sec. 3.1: ``visual``/``textual`` [K, dv]/[K, dt] per subcategory,
    ``cat_visual``/``cat_textual`` [C, .] per category; ``class_category[k]`` is the
    category index of subcategory ``k``."""
    class_names: list
    category_names: list
    class_category: np.ndarray
    visual: np.ndarray
    textual: np.ndarray
    cat_visual: np.ndarray
    cat_textual: np.ndarray

    def __post_init__(self):
        K, C = len(self.class_names), len(self.category_names)
        self.class_category = np.asarray(self.class_category, dtype=np.int64)
        for name, arr, n in (("visual", self.visual, K), ("textual", self.textual, K),
                             ("cat_visual", self.cat_visual, C), ("cat_textual", self.cat_textual, C),
                             ("class_category", self.class_category, K)):
            if len(arr) != n:
                raise ValueError(f"PrototypeBank: '{name}' has {len(arr)} rows for {n} names")
        if K and (self.class_category.min() < 0 or self.class_category.max() >= C):
            raise ValueError("PrototypeBank: class_category indexes outside the category list")
        if len(set(self.class_names)) != K:
            raise ValueError("PrototypeBank: duplicate class names")

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def labels(self, subcategories: Sequence) -> np.ndarray:
        """Class index of each subcategory name; -1 for a name without a prototype (unseen)."""
        index = {n: i for i, n in enumerate(self.class_names)}
        return np.array([index.get(s, -1) for s in subcategories], dtype=np.int64)


def bank_from_prototypes(protos) -> PrototypeBank:
    """A :class:`PrototypeBank` from ``smpp_utils.paper_a.prototypes.load_prototypes`` (stage 02):
    classes = the subcategories that have a prototype (those without train posts are left
    out there, so their posts are 'unseen' here)."""
    if isinstance(protos, PrototypeBank):
        return protos
    cidx = {c: i for i, c in enumerate(protos.category_names)}
    unknown = sorted({c for c in protos.categories if c not in cidx})
    if unknown:
        raise ValueError(f"prototypes: subcategory parents {unknown} have no category prototype")
    return PrototypeBank(list(protos.subcategories), list(protos.category_names),
                         np.array([cidx[c] for c in protos.categories]), protos.visual,
                         protos.textual, protos.category_visual, protos.category_textual)


def random_bank(num_classes: int = 77, num_categories: int = 11, dim: int = 128,
                text_dim: int | None = None, seed: int = 0) -> PrototypeBank:
    """Random prototypes (tests / a smoke run before stage 02 exists)."""
    g = np.random.default_rng(seed)
    text_dim = text_dim or dim
    parent = np.arange(num_classes) % num_categories
    return PrototypeBank([f"class{k}" for k in range(num_classes)],
                         [f"cat{c}" for c in range(num_categories)], parent,
                         g.normal(size=(num_classes, dim)).astype(np.float32),
                         g.normal(size=(num_classes, text_dim)).astype(np.float32),
                         g.normal(size=(num_categories, dim)).astype(np.float32),
                         g.normal(size=(num_categories, text_dim)).astype(np.float32))


# ============================================================================ CLIP plumbing
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


# ============================================================================ the model
class PromptCLIP(nn.Module):
    """CLIP + dual-grained prompts + prototype-based cross-modal projection (Paper A Sec. 3).

    ``forward(images, labels=None)`` returns a dict with ``logits_global``, ``logits_local``,
    ``logits_enh``, ``logits`` (their mean) [B, K], and the features ``image``, ``global``,
    ``local``, ``enhanced`` [B, d]. ``labels`` (training) selects the own-class prototypes.
    """

    def __init__(self, clip, tokenizer, bank: PrototypeBank, global_ctx: int = 16,
                 local_ctx: int = 8, temperature: float = 0.07, attn_heads: int = 4,
                 freeze_backbone: bool = False, train_prototypes: str = "label",
                 w_global: float = 1.0, w_local: float = 1.0, w_contrastive: float = 1.0):
        super().__init__()
        if train_prototypes not in ("label", "soft"):
            raise ValueError(f"train_prototypes must be 'label' or 'soft', not {train_prototypes!r}")
        self.clip = clip
        self.bank = bank
        self.temperature = float(temperature)
        self.train_prototypes = train_prototypes
        self.freeze_backbone = bool(freeze_backbone)
        self.w = {"global": float(w_global), "local": float(w_local), "contrastive": float(w_contrastive)}
        if freeze_backbone:
            clip.requires_grad_(False)
        tp = _TextParts(clip)
        # the vocabulary table (49k x width) stays fixed: prompts replace words by learned
        # context, and its dense gradient + AdamW state would dominate a CPU step
        tp.token_embedding.requires_grad_(False)
        width = tp.token_embedding.embedding_dim
        d = int(clip.visual.output_dim)
        self.dim, K = d, bank.num_classes

        # global (Sec. 3.2): "X X ... X <class name>." with the X positions replaced by ctx
        g = torch.Generator().manual_seed(0)
        self.ctx_global = nn.Parameter(torch.randn(global_ctx, width, generator=g) * 0.02)
        self.ctx_local = nn.Parameter(torch.randn(local_ctx, width, generator=g) * 0.02)
        for name, n in (("global", global_ctx), ("local", local_ctx)):
            toks = tokenizer([" ".join(["X"] * n) + " " + c + "." for c in bank.class_names])
            eot = toks.argmax(dim=-1)
            L = int(eot.max()) + 1                        # trim padding shared by every class
            self.register_buffer(f"tok_{name}", toks[:, :L].clone(), persistent=False)
            self.register_buffer(f"eot_{name}", eot.clone(), persistent=False)
        pos = torch.arange(self.tok_local.shape[1])
        # local text tokens: context + name + EOT (start token excluded, padding masked)
        self.register_buffer("local_mask", (pos[None] >= 1) & (pos[None] <= self.eot_local[:, None]),
                             persistent=False)
        # learned spatial weights over patch positions (softmax, uniform at start)
        self.spatial = nn.Parameter(torch.zeros(num_patches(clip)))

        # prototypes as fixed buffers; projections to the CLIP space when dims differ
        for name in ("visual", "textual", "cat_visual", "cat_textual"):
            self.register_buffer(f"p_{name}", torch.as_tensor(np.asarray(getattr(bank, name)),
                                                              dtype=torch.float32))
        self.register_buffer("class_category", torch.as_tensor(bank.class_category))
        dv, dt = self.p_visual.shape[1], self.p_textual.shape[1]
        self.proj_v = nn.Identity() if dv == d else nn.Linear(dv, d)
        self.proj_t = nn.Identity() if dt == d else nn.Linear(dt, d)

        # cross-modal projection (Sec. 3.3): self-attention over [x; V; T; V_cat; T_cat]
        self.type_embed = nn.Parameter(torch.zeros(5, d))
        self.attn = nn.MultiheadAttention(d, attn_heads, batch_first=True)
        self.norm = nn.LayerNorm(d)
        self.head = nn.Linear(d, K)
        from open_clip.loss import ClipLoss
        self.clip_loss = ClipLoss()

    # ------------------------------------------------------------------ prompts
    def _prompt_embeddings(self, which: str) -> torch.Tensor:
        toks, ctx = getattr(self, f"tok_{which}"), getattr(self, f"ctx_{which}")
        emb = _TextParts(self.clip).token_embedding(toks)
        n = ctx.shape[0]
        ctx = ctx.to(emb.dtype).unsqueeze(0).expand(emb.shape[0], -1, -1)
        return torch.cat([emb[:, :1], ctx, emb[:, 1 + n:]], dim=1)

    def class_text_global(self) -> torch.Tensor:
        """[K, d] normalized class embeddings of the global prompts (EOT position)."""
        out = text_tower_tokens(self.clip, self._prompt_embeddings("global"))
        return F.normalize(out[torch.arange(out.shape[0], device=out.device), self.eot_global], dim=-1)

    def class_text_local(self) -> torch.Tensor:
        """[K, L, d] normalized token embeddings of the local prompts (mask: ``local_mask``)."""
        return F.normalize(text_tower_tokens(self.clip, self._prompt_embeddings("local")), dim=-1)

    # ------------------------------------------------------------------ encoders
    def encode_images(self, images):
        with torch.set_grad_enabled(torch.is_grad_enabled() and not self.freeze_backbone):
            pooled, tokens = image_tower_tokens(self.clip, images)
        return F.normalize(pooled, dim=-1), F.normalize(tokens, dim=-1)

    def encode_post_text(self, text_tokens):
        return F.normalize(encode_text_trimmed(self.clip, text_tokens), dim=-1)

    def spatial_weights(self) -> torch.Tensor:
        return torch.softmax(self.spatial, dim=0)

    def local_scores(self, patches: torch.Tensor, text_tokens: torch.Tensor) -> torch.Tensor:
        """Sec. 3.2 local branch: cos(patch i, text token j) -> max over the prompt's valid
        tokens j -> spatially weighted sum over patches i. [B, P, d] x [K, L, d] -> [B, K]."""
        sim = torch.einsum("bpd,kld->bkpl", patches, text_tokens.to(patches.dtype))
        sim = sim.masked_fill(~self.local_mask[None, :, None, :], -2.0)
        return torch.einsum("bkp,p->bk", sim.amax(dim=-1), self.spatial_weights().to(sim.dtype))

    # ------------------------------------------------------------------ prototypes
    def _protos(self):
        f = lambda p, proj: F.normalize(proj(p), dim=-1)  # noqa: E731
        return (f(self.p_visual, self.proj_v), f(self.p_textual, self.proj_t),
                f(self.p_cat_visual, self.proj_v), f(self.p_cat_textual, self.proj_t))

    def _soft(self, x, P):
        # inference rule of Sec. 3.3: softmax(x . P_all / t) . P_all
        return torch.softmax(x @ P.t().to(x.dtype) / self.temperature, dim=-1) @ P.to(x.dtype)

    def enhance(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """Cross-modal projection (Sec. 3.3, Eq. 6): self-attention over the set
        [x; V; T; V_cat; T_cat]; the image position's output (residual + LayerNorm)."""
        V, T, Vc, Tc = self._protos()
        if labels is not None and self.train_prototypes == "label":
            if (labels < 0).any():
                raise ValueError("enhance: labels must be known classes during training")
            cat = self.class_category[labels]
            protos = [V[labels], T[labels], Vc[cat], Tc[cat]]
        else:
            protos = [self._soft(x, P) for P in (V, T, Vc, Tc)]
        seq = torch.stack([x] + [p.to(x.dtype) for p in protos], dim=1) + self.type_embed.to(x.dtype)
        out, _ = self.attn(seq, seq, seq, need_weights=False)
        return self.norm(x + out[:, 0])

    # ------------------------------------------------------------------ forward / loss
    def forward(self, images, labels=None) -> dict:
        x, patches = self.encode_images(images)
        g = self.class_text_global()
        logits_global = x @ g.t() / self.temperature
        logits_local = self.local_scores(patches, self.class_text_local()) / self.temperature
        enhanced = self.enhance(x, labels)
        logits_enh = self.head(enhanced)
        w = self.spatial_weights().to(patches.dtype)
        return {"image": x, "global": torch.softmax(logits_global, -1) @ g.to(x.dtype),
                "local": torch.einsum("bpd,p->bd", patches, w), "enhanced": enhanced,
                "logits_global": logits_global, "logits_local": logits_local,
                "logits_enh": logits_enh,
                "logits": (logits_global + logits_local + logits_enh.to(logits_global.dtype)) / 3}

    def loss_parts(self, batch: dict) -> dict:
        """L = w_g * (CE_global + CE_enh) + w_l * CE_local + w_c * ClipLoss(x, own text)."""
        y = batch["label"]
        out = self(batch["images"], y)
        parts = {"global": F.cross_entropy(out["logits_global"].float(), y)
                 + F.cross_entropy(out["logits_enh"].float(), y),
                 "local": F.cross_entropy(out["logits_local"].float(), y)}
        if not self.freeze_backbone and self.w["contrastive"] > 0 and "text" in batch:
            t = self.encode_post_text(batch["text"])
            parts["contrastive"] = self.clip_loss(out["image"].float(), t.float(), 1.0 / self.temperature)
        parts["total"] = sum(self.w[k] * v for k, v in parts.items())
        return parts

    def training_loss(self, batch: dict) -> torch.Tensor:
        return self.loss_parts(batch)["total"]

    def trainable_parameters(self):
        return [p for p in self.parameters() if p.requires_grad]


# ============================================================================ images
class _PathImages(torch.utils.data.Dataset):
    """Fallback image dataset: ``preprocess(PIL image)`` of ``root/img_path``."""

    def __init__(self, img_paths, root, preprocess):
        self.paths, self.root, self.preprocess = list(img_paths), Path(root), preprocess

    def __len__(self):
        return len(self.paths)

    def __getitem__(self, i):
        from PIL import Image
        p = self.root / str(self.paths[i])
        try:
            with Image.open(p) as im:
                return self.preprocess(im.convert("RGB"))
        except (OSError, ValueError) as e:
            raise OSError(f"{p}: cannot read image of row {i}: {e}") from e


def _first_tensor(item):
    if torch.is_tensor(item):
        return item
    if isinstance(item, dict):
        item = [v for k, v in item.items() if k in ("image", "images", "img", "pixel_values")] or list(item.values())
    for v in item:
        if torch.is_tensor(v) and v.dim() == 3:
            return v
    raise TypeError("image dataset item holds no [C, H, W] tensor")


class ImageBank:
    """Preprocessed images of a posts table, addressed by row position. Decoded once into a
    float16 tensor when they fit in ``cache_gb`` (what ci/default do: three passes reuse it),
    else streamed per batch through a DataLoader with ``num_workers``."""

    def __init__(self, dataset, num_workers: int = 0, cache_gb: float = 4.0,
                 batch_size: int = 256, progress: bool = True):
        self.dataset, self.num_workers = dataset, int(num_workers)
        self.n = len(dataset)
        self.cache = None
        shape = tuple(_first_tensor(dataset[0]).shape) if self.n else (3, 1, 1)
        if self.n * math.prod(shape) * 2 <= cache_gb * 2**30:
            self.cache = torch.empty((self.n, *shape), dtype=torch.float16)
            s = 0
            for imgs in tqdm(self._loader(range(self.n), batch_size), total=math.ceil(self.n / batch_size),
                             desc="decode images", disable=not progress):
                self.cache[s:s + len(imgs)] = imgs.half()
                s += len(imgs)

    @classmethod
    def from_posts(cls, posts: pd.DataFrame, root, preprocess, **kw) -> "ImageBank":
        try:
            from ..embed.encoders import PostImageDataset
            ds = PostImageDataset(posts, root, preprocess)
        except ImportError:
            ds = _PathImages(posts["img_path"].tolist(), root, preprocess)
        return cls(ds, **kw)

    @classmethod
    def from_tensor(cls, images: torch.Tensor) -> "ImageBank":
        bank = cls.__new__(cls)
        bank.dataset, bank.num_workers, bank.n = None, 0, len(images)
        bank.cache = images.half()
        return bank

    def _loader(self, idx, batch_size):
        sub = torch.utils.data.Subset(self.dataset, list(idx))
        dl = torch.utils.data.DataLoader(sub, batch_size=batch_size, shuffle=False,
                                         num_workers=self.num_workers,
                                         collate_fn=lambda items: torch.stack([_first_tensor(i) for i in items]))
        yield from dl

    def batches(self, idx: np.ndarray, batch_size: int) -> Iterator[tuple[np.ndarray, torch.Tensor]]:
        """(row positions, float32 images) in the order of ``idx``."""
        idx = np.asarray(idx, dtype=np.int64)
        if self.cache is not None:
            for s in range(0, len(idx), batch_size):
                b = idx[s:s + batch_size]
                yield b, self.cache[torch.from_numpy(b)].float()
        else:
            for s, imgs in zip(range(0, len(idx), batch_size), self._loader(idx, batch_size)):
                yield idx[s:s + batch_size], imgs.float()


def tokenize_posts(tokenizer, texts: Sequence[str], batch_size: int = 4096) -> torch.Tensor:
    return torch.cat([tokenizer(list(texts[s:s + batch_size])) for s in range(0, len(texts), batch_size)])


# ============================================================================ training
@dataclass
class FitHistory:
    loss: list = field(default_factory=list)          # mean total loss per epoch
    parts: list = field(default_factory=list)         # mean loss parts per epoch
    epoch_seconds: list = field(default_factory=list)
    images_per_s: list = field(default_factory=list)
    val: list = field(default_factory=list)           # on_epoch_end results


def fit_loop(model: nn.Module, bank: ImageBank, rows: dict, train_idx, *, epochs: int, lr: float,
             weight_decay: float, batch_size: int, device, seed: int, desc: str = "train",
             on_epoch_end: Callable | None = None, max_steps: int | None = None,
             progress: bool = True) -> FitHistory:
    """AdamW over the trainable parameters (Paper A Sec. 4.1: lr 1e-4, wd 1e-5, batch 128).
    ``rows``: per-post tensors (row-aligned with ``bank``) added to each batch under their key;
    the model implements ``loss_parts(batch) -> {"total", ...}`` or ``training_loss(batch)``.
    Shuffling is seeded per epoch; ``on_epoch_end(epoch)`` results land in ``history.val``."""
    seed_everything(seed)
    model.to(device)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    hist, train_idx, step = FitHistory(), np.asarray(train_idx), 0
    for epoch in range(epochs):
        model.train()
        order = train_idx[np.random.default_rng(seed * 1000 + epoch).permutation(len(train_idx))]
        sums, n_img, t0 = {}, 0, time.time()
        bar = tqdm(bank.batches(order, batch_size), total=math.ceil(len(order) / batch_size),
                   desc=f"{desc} epoch {epoch + 1}/{epochs}", leave=False, disable=not progress)
        for b, imgs in bar:
            batch = {"images": imgs.to(device, non_blocking=True)}
            tb = torch.from_numpy(b)
            batch.update({k: v[tb].to(device) for k, v in rows.items()})
            with autocast(device):
                parts = (model.loss_parts(batch) if hasattr(model, "loss_parts")
                         else {"total": model.training_loss(batch)})
            opt.zero_grad(set_to_none=True)
            parts["total"].backward()
            opt.step()
            for k, v in parts.items():
                sums[k] = sums.get(k, 0.0) + float(v.detach()) * len(b)
            n_img += len(b)
            step += 1
            bar.set_postfix(loss=f"{float(parts['total'].detach()):.3f}")
            if max_steps and step >= max_steps:
                break
        dt = time.time() - t0
        hist.parts.append({k: v / max(n_img, 1) for k, v in sums.items()})
        hist.loss.append(hist.parts[-1].get("total", float("nan")))
        hist.epoch_seconds.append(dt)
        hist.images_per_s.append(n_img / max(dt, 1e-9))
        if on_epoch_end is not None:
            hist.val.append(on_epoch_end(epoch))
        if max_steps and step >= max_steps:
            break
    return hist


# ============================================================================ inference
@torch.no_grad()
def extract(model: PromptCLIP, bank: ImageBank, text_tokens: torch.Tensor, labels: np.ndarray,
            idx=None, batch_size: int = 256, device=None, progress: bool = True) -> dict:
    """CLIPFT arrays for rows ``idx`` (default: all), in that order: the blocks of
    ``FEATURE_BLOCKS`` (float32), ``pred`` [n], and ``cls_loss`` [n] (per-sample
    cross-entropy of the final logits; unseen class -> CE to the uniform distribution)."""
    device = device or next(model.parameters()).device
    model.eval()
    idx = np.arange(bank.n) if idx is None else np.asarray(idx)
    labels = torch.as_tensor(np.asarray(labels), dtype=torch.long)
    g, l_ = model.class_text_global(), model.class_text_local()   # once, not per batch
    out = {k: [] for k in FEATURE_BLOCKS + ("cls_loss",)}
    for b, imgs in tqdm(bank.batches(idx, batch_size), total=math.ceil(len(idx) / batch_size),
                        desc="extract", leave=False, disable=not progress):
        tb = torch.from_numpy(b)
        with autocast(device):
            x, patches = model.encode_images(imgs.to(device))
            t = model.encode_post_text(text_tokens[tb].to(device))
            lg = x @ g.t().to(x.dtype) / model.temperature
            ll = model.local_scores(patches, l_) / model.temperature
            enh = model.enhance(x)
            logits = ((lg + ll + model.head(enh).to(lg.dtype)) / 3).float()
        logp = torch.log_softmax(logits, -1)
        y = labels[tb].to(device)
        known = y >= 0
        loss = -logp.mean(-1)                               # unseen: CE to uniform
        loss[known] = -logp[known].gather(1, y[known, None]).squeeze(1)
        w = model.spatial_weights()
        feats = {"image": x, "text": t, "global": torch.softmax(lg.float(), -1) @ g.float(),
                 "local": torch.einsum("bpd,p->bd", patches.float(), w), "enhanced": enh,
                 "probs": logp.exp(), "cls_loss": loss}
        for k, v in feats.items():
            out[k].append(v.float().cpu())
    res = {k: torch.cat(v).numpy().astype(np.float32) for k, v in out.items()}
    res["pred"] = res["probs"].argmax(1).astype(np.int64)
    return res


def clipft_matrix(arrays: dict) -> np.ndarray:
    """The CLIPFT feature matrix F = [image, text, global, local, enhanced, probs]."""
    return np.concatenate([arrays[k] for k in FEATURE_BLOCKS], axis=1)


def export_clipft(path, pids, arrays: dict, fingerprint: str, extra_meta: dict | None = None):
    """``data/<profile>/features/clipft.npz`` keyed by Pid: the feature blocks of
    ``FEATURE_BLOCKS`` plus ``cls_loss`` (not a feature: used for the boosting stage's
    loss-based sample selection). Refuses a row-count mismatch, leaving no file."""
    pids = np.asarray(pids)
    bad = {k: len(v) for k, v in arrays.items() if len(v) != len(pids)}
    if bad:
        raise ValueError(f"{path}: {len(pids)} Pids but arrays with other row counts {bad}")
    data = {k: arrays[k] for k in FEATURE_BLOCKS + ("cls_loss",)}
    meta = {"fingerprint": fingerprint, "blocks": list(FEATURE_BLOCKS),
            "dims": {k: int(np.asarray(arrays[k]).shape[1]) for k in FEATURE_BLOCKS}, **(extra_meta or {})}
    return save_arrays(path, pids, data, meta)


def save_model(path, model: PromptCLIP, config: dict, fingerprint: str) -> Path:
    """``models/<profile>/clipft.pt``: state dict, knobs, class names, fingerprint."""
    with atomic_path(path, suffix=".pt") as tmp:
        torch.save({"state_dict": {k: v.cpu() for k, v in model.state_dict().items()},
                    "config": dict(config), "class_names": list(model.bank.class_names),
                    "category_names": list(model.bank.category_names),
                    "fingerprint": fingerprint}, tmp)
    return Path(path)


# ============================================================================ metrics
def topk_accuracy(probs: np.ndarray, labels: np.ndarray, k: int) -> float:
    """Share of rows whose label is among the k highest scores; label -1 (unseen) is a miss."""
    labels = np.asarray(labels)
    if len(labels) == 0:
        return float("nan")
    top = np.argsort(-probs, axis=1)[:, :k]
    return float(((top == labels[:, None]) & (labels[:, None] >= 0)).any(1).mean())


def accuracy_report(probs: np.ndarray, labels: np.ndarray, splits: np.ndarray,
                    categories: np.ndarray, seen_train: set | None = None,
                    class_names: Sequence | None = None) -> tuple[dict, pd.DataFrame]:
    """77-way top-1/top-5 per split plus per-category top-1 (the table of notebook 03).
    Returns (metrics dict, table with one row per category + 'all' and columns per split).
    Unseen-class posts are counted (``n_unseen_<split>``) and scored as misses."""
    metrics, rows = {}, {}
    splits, categories, labels = np.asarray(splits), np.asarray(categories), np.asarray(labels)
    for s in ("val", "test"):
        m = splits == s
        if not m.any():
            continue
        metrics[f"{s}_top1"] = topk_accuracy(probs[m], labels[m], 1)
        metrics[f"{s}_top5"] = topk_accuracy(probs[m], labels[m], 5)
        metrics[f"n_{s}"] = int(m.sum())
        metrics[f"n_unseen_{s}"] = int((labels[m] < 0).sum())
        if seen_train is not None and class_names is not None:
            no_train = np.array([lab >= 0 and class_names[lab] not in seen_train for lab in labels[m]])
            metrics[f"n_no_train_posts_{s}"] = int(no_train.sum())
        for c in sorted(set(categories[m])):
            mc = m & (categories == c)
            rows.setdefault(c, {"category": c})
            rows[c][f"{s}_n"] = int(mc.sum())
            rows[c][f"{s}_top1"] = topk_accuracy(probs[mc], labels[mc], 1)
        rows.setdefault("all", {"category": "all"})
        rows["all"][f"{s}_n"] = int(m.sum())
        rows["all"][f"{s}_top1"] = metrics[f"{s}_top1"]
        rows["all"][f"{s}_top5"] = metrics[f"{s}_top5"]
    order = [c for c in rows if c != "all"] + ["all"]
    return metrics, pd.DataFrame([rows[c] for c in order])


# ============================================================================ notebook glue
def load_backbone(profile: str, device=None):
    """The CLIP stage 02 used (``prototypes.clip_model``; weights ``prototypes.clip_pretrained``
    or ``models/<profile>/clip_pretrain.pt``): ``(model, preprocess, tokenizer, info)``.
    Call twice for two independent copies (prompt model, direct regression)."""
    from ..core import config
    from ..embed.encoders import clip_checkpoint_path, create_clip

    sec = config.section("prototypes", profile)
    ckpt = clip_checkpoint_path(profile)
    if not Path(ckpt).is_file():
        raise FileNotFoundError(f"{ckpt}: missing CLIP checkpoint - run the prototypes stage (02) "
                                "first")
    model, preprocess, tokenizer = create_clip(sec["clip_model"], ckpt, device)
    return model, preprocess, tokenizer, {"clip_model": sec["clip_model"], "checkpoint": str(ckpt)}


def post_labels(posts: pd.DataFrame, bank: PrototypeBank) -> np.ndarray:
    """Class index per post (-1 = unseen subcategory). A train post without a prototype is
    an error naming it: the prototypes were built from the train split."""
    labels = bank.labels(posts["subcategory"].astype(str).tolist())
    bad = (labels < 0) & (posts["split"].astype("string").fillna("") == "train").to_numpy()
    if bad.any():
        row = posts.loc[bad].iloc[0]
        raise ValueError(f"{int(bad.sum())} train posts have a subcategory without prototype, e.g. "
                         f"Pid {row['Pid']} ({row['subcategory']!r}) - prototypes.npz is stale; "
                         "rerun the prototypes stage")
    return labels
