"""The fixed anchors of Paper A Sec. 3.1 as the prompt model consumes them: visual/textual
prototypes per subcategory and per category, the class names and the subcategory ->
category map, and the class index of each post (-1 = a subcategory without prototype)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd


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
