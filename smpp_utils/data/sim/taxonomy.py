"""Step 1 of the generative process: the taxonomy. Subcategory shares (real category counts
split by a Dirichlet), concepts with appeals, tag vocabularies, and a visual style per
subcategory."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .. import schema
from .config import SimConfig
from .vocab import _MODIFIERS, _pseudo_words, _token


@dataclass
class Taxonomy:
    pairs: list                  # (category, subcategory) names, schema.all_subcategories()
    cats: list                   # category names
    cat_of: np.ndarray           # (S,) category index of each subcategory
    p_sub: np.ndarray            # (S,) post share of each subcategory
    appeal_sub: np.ndarray       # (S,) latent appeal a_s ~ N(0, 1)
    concepts: list               # per subcategory: concept names
    concept_p: list              # per subcategory: concept frequencies
    concept_appeal: list         # per subcategory: concept appeals a_c ~ N(0, 1)
    sub_vocab: list              # per subcategory: tag words
    noise_vocab: list            # noise pseudo-words
    style: pd.DataFrame          # (S, ...) visual style of each subcategory
    taken: set                   # every pseudo-word drawn so far (user vocabularies stay unique)

    @property
    def S(self) -> int:
        return len(self.pairs)


def draw_taxonomy(cfg: SimConfig, rng: np.random.Generator, vrng: np.random.Generator) -> Taxonomy:
    pairs = schema.all_subcategories()
    cats = list(schema.POSTS_PER_CATEGORY)
    S = len(pairs)
    cat_of = np.array([cats.index(c) for c, _ in pairs])
    cat_share = np.array([schema.POSTS_PER_CATEGORY[c][0] for c in cats], float)
    cat_share /= cat_share.sum()
    p_sub = np.empty(S)
    for ci in range(len(cats)):
        idx = np.flatnonzero(cat_of == ci)
        p_sub[idx] = cat_share[ci] * rng.dirichlet(np.full(len(idx), cfg.subcat_dirichlet_alpha))
    appeal_sub = rng.normal(size=S)
    taken: set = set()
    sub_vocab, concepts, concept_p, concept_appeal = [], [], [], []
    for si, (c, s) in enumerate(pairs):
        k = int(rng.integers(cfg.concepts_min, cfg.concepts_max + 1))
        mods = vrng.choice(len(_MODIFIERS), size=k, replace=False)
        concepts.append([f"{_MODIFIERS[m]}_{_token(s)}" for m in mods])
        concept_p.append(rng.dirichlet(np.full(k, 2.0)))
        concept_appeal.append(rng.normal(size=k))
        sub_vocab.append([_token(s), _token(c)] + _pseudo_words(vrng, cfg.subcat_vocab_size, taken))
    noise_vocab = _pseudo_words(vrng, 200, taken)
    # visual style per subcategory: category hue + small offset (overlap within a category)
    cat_hue = (np.arange(len(cats)) / len(cats) + rng.uniform(0, 0.05)) % 1.0
    style = pd.DataFrame({
        "hue": (cat_hue[cat_of] + rng.normal(0, 0.05, S)) % 1.0,
        "fg_shift": rng.uniform(0.25, 0.75, S),
        "shape": rng.integers(0, 6, S),
        "stripe_angle": rng.uniform(0, math.pi, S),
        "stripe_freq": rng.uniform(1.5, 6.0, S),
        "stripe_amp": rng.uniform(0.1, 0.45, S),
        "n_extra": rng.integers(0, 5, S),
        "sat": rng.uniform(0.35, 0.9, S),
    })
    return Taxonomy(pairs, cats, cat_of, p_sub, appeal_sub, concepts, concept_p, concept_appeal,
                    sub_vocab, noise_vocab, style, taken)
