"""SMPD-Sim: a seeded simulator that writes data in the official SMPD file format.

Output folder (``simulate(out_dir, cfg)``)::

    {split}_category.json  _text.json  _user_data.json  _additional_information.json
    {split}_temporalspatial_information.json  {split}_label.txt  {split}_img_filepath.txt
    {split}/<Uid>/<Pid>.jpg          procedural JPEG images (fixed quality)
    sim_latent.csv                   Pid, noise-free latent score and its components (no model reads it)
    sim_config.json                  the SimConfig and counts (deterministic, no timings)

for split in {train, test}. JSON files are lists of records with string values, row-aligned
with the label and image-path files; subcategory spaces are written as commas. Unlike the
real challenge, the SMPD-Sim test files are labelled (``test_label.txt``) so that the
chronological split can be evaluated. Everything is a function of ``SimConfig`` (byte-identical
files for a seed).

v2 (issue 10): steps 2, 3 and 6 below are superseded where they differ: posts come in upload
sessions (shared subcategory/concept, time, scene, effect ``w_session``), users are active around
a centre time (``user_span``), ``cold_start_share`` of test posts are by users first seen after
the train period, the test files are the latest n_test posts, the age drift is linear
(``w_age``), plus ``c_visual``, ``c_trend``, ``tag_noise_rate``; the latent is the Gaussianised
rank within TRAIN (test placed on the train ECDF). Regimes: ``REGIMES``; calibration:
``sim/calibrate.py`` and docs/sim_calibration.md.

Generative process (every weight is a ``SimConfig`` field)
----------------------------------------------------------
1. Taxonomy. The 11 categories and 77 subcategories of ``schema.all_subcategories()`` (71 real
   names + 6 ``Sim-`` names). Category shares follow the real SMPD train counts
   (``schema.POSTS_PER_CATEGORY``), split over the category's subcategories by a symmetric
   Dirichlet(``subcat_dirichlet_alpha``). Each subcategory has ``concepts_min..concepts_max``
   concepts (Dirichlet(2) frequencies), a latent appeal a_s ~ N(0,1), and each concept an appeal
   a_c ~ N(0,1); a tag vocabulary of pseudo-words; a visual style (palette hue near its
   category's hue, so subcategories of one category overlap; shape kind; stripe angle/frequency).
2. Users. ``users`` (default posts/``posts_per_user`` = posts/8, as real SMPD's 305,613 posts from
   38,312 users) share posts_train + posts_test by a heavy-tailed allocation: every user gets one
   post and the rest are multinomial with lognormal(0, ``activity_sigma``) weights. Latent
   influence i_u ~ N(0,1) correlated (``influence_activity_corr``) with log activity; profile
   fields follow influence (photo_count, ispro, canbuypro, pathalias, photo_firstdate, timezone
   present). Each user prefers 1-3 subcategories (``n_topics_probs``) and posts outside them
   with probability ``topic_explore``; has a personal pseudo-word tag vocabulary, a tag habit
   (lognormal around ``tags_median``), is a spammer with probability ``spammer_share``, has a
   photographic skill (image quality mean, correlated ``quality_user_corr`` with influence) and
   a home time zone / location (geotags with a per-user propensity around ``geotag_share``).
3. Time. Train posts are uniform over ``months`` months from ``start_date``; test posts
   (round(posts * test_ratio)) over the following ``test_months``, all strictly later. The local
   hour follows a diurnal activity profile. Effects on popularity: weekday (weekend up), hour
   (cosine peaking at ``hour_peak`` local time) and post age (older posts accumulated more
   views; so the later test posts have lower labels on average - a drift of about -0.5 in mean
   label at the default ``w_age``; the train+test marginal is the real one, the train-only KS
   against real SMPD is ~0.01).
4. Text. Titles: empty (``empty_title_share``), camera-style "IMG_1234" (``camera_title_share``),
   otherwise 2-6 words from the subcategory/concept vocabulary and common words. Tags (space
   separated) mix subcategory vocabulary, the user's own vocabulary and generic/noise words;
   spammers add several spam tags, others rarely (``spam_tag_rate``).
5. Images. Stripes + gradient background, a main shape and small extra shapes in the
   subcategory's style, with per-post jitter (position, scale, hue, noise). A latent quality
   q = skill_u + N(0, 1) (standardised) sets contrast, blur and composition (centred, larger
   main object when q is high).
6. Label. raw = w_user*i_u + w_subcat*a_s + w_concept*a_c + w_image*q + w_weekday*weekday
   + w_hour*hour + w_age*age + w_tags*z(log1p #tags) - w_spam*log1p(#spam tags) + w_title*title.
   The latent score is its Gaussianised rank, s = sqrt(1 - sd^2) * Phi^-1(rank/N) (a monotone
   map, so s ~ N(0, 1 - sd^2) exactly), sd = ``label_noise_sd``; the label is
   Q(Phi(s + e)), e ~ N(0, sd^2), with Q the real SMPD train quantile function
   (``label_quantiles``), rounded to 2 decimals. As s + e ~ N(0, 1), labels follow the real
   marginal; the best predictor E[label | s] = E_e Q(Phi(s + e)) depends on s and sd only
   (``oracle_predictions``). Spearman(s, s + e) = (6/pi) asin(r/2), r = sqrt(1 - sd^2); the
   default sd = 0.42 gives an oracle SRC of about 0.90, above the JRPP result on real SMPD
   (SRC 0.87), so the ceiling is not binding for the paper's models.
"""

from __future__ import annotations

import argparse
import colorsys
import json
import math
import os
import shutil
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import multiprocessing as mp
import numpy as np
import pandas as pd
from PIL import Image, ImageDraw, ImageFilter
from scipy.special import ndtr, ndtri

from ...core.metrics import regression_metrics
from .. import schema
from ..label_quantiles import quantile_map

SPLITS = ("train", "test")


@dataclass
class SimConfig:
    # size
    posts: int = 20_000                 # posts in the train files
    users: int | None = None            # None -> round(posts / posts_per_user)
    posts_per_user: float = 8.0
    image_size: int = 64
    test_ratio: float = 0.1             # round(posts * test_ratio) later posts -> test files
    seed: int = 0
    # time
    start_date: str = "2015-01-01"
    months: int = 16
    test_months: int = 2
    hour_peak: float = 20.0             # local hour of the best posting time
    # taxonomy
    subcat_dirichlet_alpha: float = 4.0
    concepts_min: int = 3
    concepts_max: int = 6
    subcat_vocab_size: int = 12         # pseudo-word tags per subcategory
    # users
    activity_sigma: float = 1.4         # lognormal sd of posting-activity weights
    influence_activity_corr: float = 0.3
    n_topics_probs: tuple = (0.5, 0.3, 0.2)   # P(user prefers 1, 2, 3 subcategories)
    topic_explore: float = 0.1
    user_vocab_min: int = 3
    user_vocab_max: int = 8
    spammer_share: float = 0.08
    no_timezone_share: float = 0.15
    geotag_share: float = 0.3
    video_share: float = 0.02
    # text
    empty_title_share: float = 0.25
    camera_title_share: float = 0.15
    tags_median: float = 7.0
    tags_user_sigma: float = 0.8
    tags_max: int = 40
    tag_source_probs: tuple = (0.6, 0.2, 0.2)  # subcategory vocab, user vocab, generic/noise
    spam_tag_rate: float = 0.03         # non-spammers: P(post carries spam tags)
    spam_tags_mean: float = 4.0         # spammers: mean spam tags per post
    # images
    quality_user_corr: float = 0.5      # share of image-quality variance from the user's skill
    skill_influence_corr: float = 0.3
    image_noise_sd: float = 10.0
    hue_jitter: float = 0.04
    jpeg_quality: int = 90
    workers: int = 2
    # label (weights on standardised components)
    w_user: float = 0.62
    w_subcat: float = 0.45
    w_concept: float = 0.2
    w_image: float = 0.5
    w_weekday: float = 0.12
    w_hour: float = 0.2
    w_age: float = 0.6                  # long-run drift: older posts have more views (linear in age)
    w_tags: float = 0.3
    w_spam: float = 0.5
    w_title: float = 0.1
    # --- SMPD-Sim v2 mechanisms (issue 10); each names the claim it makes testable ---------
    regime: str = "smpd"               # name of the regime these values came from (REGIMES)
    # upload sessions: bursts of near-duplicate posts by one user sharing time, subject, scene
    # and a session effect -> retrieval of similar posts beats the user mean (random split)
    session_mean_len: float = 2.0       # mean posts per session (geometric); 1 = no sessions
    session_gap_min: float = 3.0        # mean minutes between posts of a session
    w_session: float = 0.3              # weight of the per-session effect N(0,1)
    # users are active over a part of the period -> Pid neighbours share users (lag autocorr)
    user_span: float = 0.01             # sd of a user's session times, as a share of the period
    # cold start: share of TEST posts by users whose first post is after the train period
    cold_start_share: float = 0.3       # -> user features fail on the chronological split
    # smooth visual appeal of the rendered content (hue, brightness, saturation, size)
    w_visual: float = 0.5               # -> image features and kNN carry signal beyond class/user
    # topic trends: each subcategory has a Gaussian popularity bump in time
    w_trend: float = 0.5                # -> time-aware retrieval beats time-blind retrieval
    trend_width: float = 0.08           # bump sd as a share of the period
    # text noise relative to the class
    tag_noise_rate: float = 0.15        # P(title/tags drawn from another subcategory) -> prototypes vs raw tags
    # encoder-level noise: image_noise_sd (pixel noise) and hue_jitter above -> test-time perturbation
    label_noise_sd: float = 0.42        # sd of e on the N(0,1) scale of s + e; oracle SRC ~ 0.90
    oracle_draws: int = 256             # Monte Carlo draws of e in oracle_predictions

    def n_users(self) -> int:
        u = self.users if self.users is not None else round(self.posts / self.posts_per_user)
        return int(max(1, min(u, self.n_total())))

    def n_test(self) -> int:
        return int(round(self.posts * self.test_ratio))

    def n_total(self) -> int:
        return int(self.posts) + self.n_test()

    def validate(self) -> None:
        if self.posts < 1:
            raise ValueError(f"SimConfig.posts must be >= 1, got {self.posts}")
        if self.image_size < 8:
            raise ValueError(f"SimConfig.image_size must be >= 8 px, got {self.image_size}")
        if not 0 <= self.test_ratio <= 1:
            raise ValueError(f"SimConfig.test_ratio must be in [0, 1], got {self.test_ratio}")
        if not 0 < self.label_noise_sd < 1:
            raise ValueError(f"SimConfig.label_noise_sd must be in (0, 1), got {self.label_noise_sd}")
        if self.regime not in REGIMES:
            raise ValueError(f"SimConfig.regime {self.regime!r} unknown; choose one of {sorted(REGIMES)}")
        if not 0 <= self.cold_start_share <= 1 or not 0 <= self.tag_noise_rate <= 1:
            raise ValueError("SimConfig: cold_start_share and tag_noise_rate must be in [0, 1]")
        if self.session_mean_len < 1 or self.user_span <= 0 or self.trend_width <= 0:
            raise ValueError("SimConfig: need session_mean_len >= 1, user_span > 0, trend_width > 0")
        if not 1 <= self.concepts_min <= self.concepts_max:
            raise ValueError("SimConfig: need 1 <= concepts_min <= concepts_max")
        if abs(sum(self.n_topics_probs) - 1) > 1e-6 or abs(sum(self.tag_source_probs) - 1) > 1e-6:
            raise ValueError("SimConfig: n_topics_probs and tag_source_probs must sum to 1")


# Named regimes: SimConfig overrides on top of the calibrated default (one line each).
REGIMES: dict[str, dict] = {
    # calibrated to real SMPD's Pid-order statistics (docs/sim_calibration.md)
    "smpd": {},
    # identity dominates: strong user effect, weak content/session/trend
    "user-dominated": {"w_user": 1.6, "w_session": 0.1, "w_visual": 0.15, "w_image": 0.2, "w_trend": 0.1},
    # content dominates: image appeal, class and visual function strong, users weak
    "content-dominated": {"w_user": 0.2, "w_visual": 1.2, "w_image": 0.9, "w_subcat": 0.8, "w_session": 0.1},
    # topic trends and bursts dominate: narrow, strong subcategory bumps in time
    "trend-driven": {"w_trend": 1.3, "trend_width": 0.04, "w_user": 0.4},
    # most test posts come from users never seen in train
    "cold-start": {"cold_start_share": 0.8},
}


def regime_config(name: str = "smpd", **overrides) -> "SimConfig":
    """SimConfig of regime ``name`` (see ``REGIMES``), with field ``overrides`` on top."""
    if name not in REGIMES:
        raise ValueError(f"SimConfig regime {name!r} unknown; choose one of {sorted(REGIMES)}")
    return SimConfig(**{**REGIMES[name], **overrides, "regime": name})


@dataclass
class SimTables:
    """Everything ``simulate`` writes, before writing: ``posts`` (one row per post, raw-file
    fields as strings plus split/label), ``latent`` (the sidecar), ``images`` (render params)."""
    posts: pd.DataFrame
    latent: pd.DataFrame
    images: pd.DataFrame


# --------------------------------------------------------------------------- vocabulary
_COMMON = ("my", "the", "a", "at", "with", "in", "on", "and", "day", "new", "first", "last",
           "beautiful", "little", "big", "best", "today", "weekend", "happy", "old", "summer",
           "night", "morning", "time", "love", "our", "great", "one", "more", "view")
_GENERIC_TAGS = ("photo", "photography", "picture", "canon", "nikon", "sony", "iphone",
                 "instagood", "photooftheday", "beautiful", "nature", "color", "art", "fun",
                 "2015", "2016", "usa", "travel", "light", "portrait", "street", "bw", "life")
_SPAM_TAGS = ("follow4follow", "like4like", "f4f", "l4l", "tagsforlikes", "followme",
              "likeforlike", "instalike", "followforfollow", "spam4spam", "likes", "follow")
_MODIFIERS = ("vintage", "urban", "wild", "tiny", "golden", "classic", "cozy", "bright", "dark",
              "retro", "modern", "rainy", "sunny", "local", "family", "street", "night", "happy",
              "cute", "epic", "minimal", "colorful", "lazy", "crazy", "sweet", "fresh")
_CAMERA = ("IMG_{:04d}", "DSC_{:04d}", "DSC{:05d}", "P10{:05d}", "DSCF{:04d}", "_MG_{:04d}")
# (offset hours, IANA id, locations (name, lat, lon))
_TIMEZONES = (
    (-8.0, "America/Los_Angeles", (("Los Angeles", 34.05, -118.24), ("Seattle", 47.61, -122.33))),
    (-7.0, "America/Denver", (("Denver", 39.74, -104.99),)),
    (-6.0, "America/Chicago", (("Chicago", 41.88, -87.63), ("Houston", 29.76, -95.37))),
    (-5.0, "America/New_York", (("New York", 40.71, -74.01), ("Baltimore", 39.29, -76.61))),
    (-3.0, "America/Sao_Paulo", (("Sao Paulo", -23.55, -46.63),)),
    (0.0, "Europe/London", (("London", 51.51, -0.13),)),
    (1.0, "Europe/Paris", (("Paris", 48.86, 2.35), ("Berlin", 52.52, 13.40))),
    (3.0, "Europe/Moscow", (("Moscow", 55.76, 37.62),)),
    (5.5, "Asia/Kolkata", (("Mumbai", 19.08, 72.88),)),
    (8.0, "Asia/Shanghai", (("Shanghai", 31.23, 121.47), ("Singapore", 1.35, 103.82))),
    (9.0, "Asia/Tokyo", (("Tokyo", 35.68, 139.69),)),
    (10.0, "Australia/Sydney", (("Sydney", -33.87, 151.21),)),
)
_TZ_WEIGHTS = np.array([0.2, 0.04, 0.1, 0.22, 0.04, 0.1, 0.12, 0.03, 0.03, 0.05, 0.04, 0.03])
_WEEKDAY = np.array([-0.6, -0.5, -0.3, -0.1, 0.3, 1.0, 0.8])          # Monday..Sunday
_DIURNAL = np.array([2, 1, 1, .5, .5, .5, 1, 2, 3, 3, 3, 4, 5, 4, 4, 4, 5, 6, 7, 8, 8, 7, 5, 3.])


def _pseudo_words(rng: np.random.Generator, n: int, taken: set) -> list[str]:
    """n new lowercase pseudo-words (2-3 consonant-vowel syllables), unique against ``taken``."""
    cons, vows = "bcdfghjklmnprstvwz", "aeiou"
    out = []
    while len(out) < n:
        k = rng.integers(2, 4)
        w = "".join(cons[rng.integers(len(cons))] + vows[rng.integers(len(vows))] for _ in range(k))
        if rng.random() < 0.4:
            w += cons[rng.integers(len(cons))]
        if w not in taken:
            taken.add(w)
            out.append(w)
    return out


def _token(name: str) -> str:
    return "".join(ch for ch in name.lower() if ch.isalnum())


def _z(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=float)
    sd = x.std()
    return (x - x.mean()) / sd if sd > 0 else np.zeros_like(x)


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


# --------------------------------------------------------------------------- the table
def simulate_table(cfg: SimConfig) -> SimTables:
    """Draw every post (all fields, latent components, image parameters) without writing."""
    cfg.validate()
    rng = np.random.default_rng([cfg.seed, 20_240_601])
    vrng = np.random.default_rng([cfg.seed, 1])              # vocabulary only
    N, n_test, U = cfg.n_total(), cfg.n_test(), cfg.n_users()

    # 1. taxonomy ---------------------------------------------------------------------------
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

    # 2. users ------------------------------------------------------------------------------
    act = rng.lognormal(0.0, cfg.activity_sigma, U)
    counts = np.ones(U, int) + rng.multinomial(N - U, act / act.sum())
    log_act = _z(np.log(counts))
    rho = cfg.influence_activity_corr
    influence = rho * log_act + math.sqrt(1 - rho**2) * rng.normal(size=U)
    skill = cfg.skill_influence_corr * influence + math.sqrt(1 - cfg.skill_influence_corr**2) * rng.normal(size=U)
    tz = rng.choice(len(_TIMEZONES), size=U, p=_TZ_WEIGHTS / _TZ_WEIGHTS.sum())
    has_tz = rng.random(U) >= cfg.no_timezone_share * 2 * _sigmoid(-influence)
    tz_off = np.where(has_tz, np.array([t[0] for t in _TIMEZONES])[tz], 0.0)
    loc_i = np.array([rng.integers(len(_TIMEZONES[t][2])) for t in tz])
    geo_prop = np.clip(rng.beta(0.6, 1.4, U) * cfg.geotag_share / 0.3, 0, 1)
    spammer = rng.random(U) < cfg.spammer_share
    tag_lam = cfg.tags_median * np.exp(rng.normal(0, cfg.tags_user_sigma, U))
    n_topics = rng.choice(len(cfg.n_topics_probs), size=U, p=np.asarray(cfg.n_topics_probs)) + 1
    pids_seen = 10_000_000 + rng.choice(90_000_000, size=U, replace=False)
    uid = np.array([f"{p}@N{rng.integers(0, 10):02d}" for p in pids_seen], dtype=object)
    user_vocab = [_pseudo_words(vrng, int(rng.integers(cfg.user_vocab_min, cfg.user_vocab_max + 1)), taken)
                  for _ in range(U)]
    alias = np.where(rng.random(U) < _sigmoid(0.3 + 0.8 * influence), [v[0] for v in user_vocab], "None")

    post_user = np.repeat(np.arange(U), counts)               # grouped by user
    sess_new = np.r_[True, post_user[1:] != post_user[:-1]] | (rng.random(N) < 1.0 / max(cfg.session_mean_len, 1.0))
    post_sess = np.cumsum(sess_new) - 1
    n_sess = int(post_sess[-1]) + 1
    sess_user = post_user[sess_new]
    sess_sub = np.empty(n_sess, int)
    s_starts = np.r_[np.flatnonzero(np.r_[True, sess_user[1:] != sess_user[:-1]]), n_sess]
    for u in range(U):
        a_, b_ = s_starts[u], s_starts[u + 1]
        pref = rng.choice(S, size=n_topics[u], replace=False, p=p_sub)
        sess_sub[a_:b_] = rng.choice(pref, size=b_ - a_, p=rng.dirichlet(np.ones(n_topics[u])))
    explore = rng.random(n_sess) < cfg.topic_explore
    sess_sub[explore] = rng.choice(S, size=int(explore.sum()), p=p_sub)
    sess_con = np.empty(n_sess, int)
    for si in range(S):
        idx = np.flatnonzero(sess_sub == si)
        sess_con[idx] = rng.choice(len(concepts[si]), size=len(idx), p=concept_p[si])
    post_sub, post_con = sess_sub[post_sess], sess_con[post_sess]
    sess_effect = rng.normal(size=n_sess)

    # 3. time -------------------------------------------------------------------------------
    t0 = int(pd.Timestamp(cfg.start_date, tz="UTC").timestamp())
    t_split = int((pd.Timestamp(cfg.start_date, tz="UTC") + pd.DateOffset(months=cfg.months)).timestamp())
    t_end = int((pd.Timestamp(cfg.start_date, tz="UTC")
                 + pd.DateOffset(months=cfg.months + cfg.test_months)).timestamp())
    # users: a centre of activity in [0, 1) (cold-start users: after the train period only);
    # sessions near it; the n_test latest posts are the test files (strictly later in time)
    f_split = (t_split - t0) / (t_end - t0)
    cold = np.zeros(U, bool)
    if n_test and cfg.cold_start_share > 0:
        target, acc = cfg.cold_start_share * n_test, 0
        for u in rng.permutation(U):
            if acc + counts[u] <= 1.2 * target:
                cold[u] = True
                acc += counts[u]
            if acc >= target:
                break
    # warm users' centres span [0, f_w) so that about (1 - cold share) of the test posts are theirs
    r = min(0.99, (n_test - counts[cold].sum()) / max(N - counts[cold].sum(), 1)) if n_test else 0.0
    f_w = min(1.0, f_split / (1 - max(r, 0.0)))
    centre = np.where(cold, rng.uniform(f_split, 1, U), rng.uniform(0, f_w, U))
    lo_u = np.where(cold, f_split, 0.0)
    frac = np.clip(centre[sess_user] + cfg.user_span * rng.normal(size=n_sess), lo_u[sess_user], 1 - 1e-6)
    sess_day = (t0 // 86400 + np.floor(frac * (t_end - t0) / 86400)).astype(np.int64)
    sess_hour = rng.choice(24, size=n_sess, p=_DIURNAL / _DIURNAL.sum())
    within = np.zeros(N)
    gaps = rng.exponential(60 * cfg.session_gap_min, N)
    gaps[sess_new] = 0.0
    within = np.cumsum(gaps) - np.repeat(np.cumsum(gaps)[sess_new], np.bincount(post_sess))
    sec_local = sess_hour[post_sess] * 3600 + rng.integers(0, 3600, n_sess)[post_sess] + within.astype(np.int64)
    offset_s = (tz_off[post_user] * 3600).astype(np.int64)
    postdate = np.clip(sess_day[post_sess] * 86400 + sec_local - offset_s, t0, t_end - 1)
    is_test = np.zeros(N, bool)
    if n_test:
        is_test[np.lexsort((np.arange(N), postdate))[N - n_test:]] = True
    local = postdate + offset_s
    hour = (local // 3600) % 24
    weekday = ((local // 86400) + 3) % 7                      # 1970-01-01 was a Thursday
    age = (t_end - postdate) / 86400.0
    tfrac = (postdate - t0) / (t_end - t0)
    trend_c, trend_a = rng.uniform(0, 1, S), rng.normal(size=S)
    trend = trend_a[post_sub] * np.exp(-0.5 * ((tfrac - trend_c[post_sub]) / cfg.trend_width) ** 2)
    text_sub = np.where(rng.random(N) < cfg.tag_noise_rate, rng.choice(S, size=N, p=p_sub), post_sub)

    # 4. text -------------------------------------------------------------------------------
    u_title = rng.random(N)
    title_kind = np.where(u_title < cfg.empty_title_share, 0,
                          np.where(u_title < cfg.empty_title_share + cfg.camera_title_share, 1, 2))
    titles, tags, n_tags, n_spam = [], [], np.zeros(N, int), np.zeros(N, int)
    src_p = np.asarray(cfg.tag_source_probs)
    for i in range(N):
        u, si = post_user[i], text_sub[i]
        con = concepts[si][min(post_con[i], len(concepts[si]) - 1)]
        if title_kind[i] == 0:
            titles.append("")
        elif title_kind[i] == 1:
            titles.append(_CAMERA[rng.integers(len(_CAMERA))].format(int(rng.integers(0, 10_000))))
        else:
            k = int(rng.integers(2, 7))
            pool = sub_vocab[si] + [con.split("_")[0]] * 2 + list(_COMMON[:12])
            words = [pool[j] for j in rng.integers(0, len(pool), k)]
            titles.append(" ".join(words).capitalize())
        k = min(int(rng.poisson(tag_lam[u])), cfg.tags_max)
        src = rng.choice(3, size=k, p=src_p)
        tg = [con] if k else []
        for s_ in src:
            if s_ == 0:
                tg.append(sub_vocab[si][rng.integers(len(sub_vocab[si]))])
            elif s_ == 1:
                tg.append(user_vocab[u][rng.integers(len(user_vocab[u]))])
            elif rng.random() < 0.5:
                tg.append(_GENERIC_TAGS[rng.integers(len(_GENERIC_TAGS))])
            else:
                tg.append(noise_vocab[rng.integers(len(noise_vocab))])
        tg = list(dict.fromkeys(tg))
        n_tags[i] = len(tg)
        ns = 0
        if spammer[u]:
            ns = 1 + int(rng.poisson(cfg.spam_tags_mean - 1))
        elif rng.random() < cfg.spam_tag_rate:
            ns = int(rng.integers(1, 3))
        if ns:
            sp = list(dict.fromkeys(_SPAM_TAGS[j] for j in rng.integers(0, len(_SPAM_TAGS), ns)))
            n_spam[i] = len(sp)
            tg += sp
        tags.append(" ".join(tg))

    # 5. image quality and render parameters --------------------------------------------------
    a = math.sqrt(cfg.quality_user_corr)
    quality = a * skill[post_user] + math.sqrt(1 - cfg.quality_user_corr) * rng.normal(size=N)
    st = style.iloc[post_sub].reset_index(drop=True)
    ps = post_sess

    def scene(sd, n=N):                                      # session-shared draw + small per-post noise
        return rng.normal(0, sd, n_sess)[ps] + rng.normal(0, 0.25 * sd, n)

    hue = (st["hue"].to_numpy() + scene(cfg.hue_jitter) + 0.03 * (post_con - 2)) % 1.0
    comp_sd = 0.05 + 0.12 * _sigmoid(-quality)               # composition: off-centre when low q
    images = pd.DataFrame({
        "hue": hue,
        "fg_hue": (hue + st["fg_shift"].to_numpy() + rng.normal(0, cfg.hue_jitter, N)) % 1.0,
        "sat": np.clip(st["sat"].to_numpy() + rng.normal(0, 0.08, N), 0.05, 1.0),
        "val": np.clip(rng.uniform(0.45, 0.95, n_sess)[ps] + rng.normal(0, 0.03, N), 0.3, 1.0),
        "shape": st["shape"].to_numpy(),
        "stripe_angle": st["stripe_angle"].to_numpy() + rng.normal(0, 0.15, N),
        "stripe_freq": st["stripe_freq"].to_numpy() * rng.uniform(0.8, 1.25, N),
        "stripe_phase": rng.uniform(0, 2 * math.pi, n_sess)[ps] + rng.normal(0, 0.2, N),
        "stripe_amp": st["stripe_amp"].to_numpy(),
        "n_extra": np.clip(st["n_extra"].to_numpy() + rng.integers(-1, 2, N), 0, 6),
        "cx": np.clip(0.5 + scene(1.0) * comp_sd, 0.05, 0.95),
        "cy": np.clip(0.5 + scene(1.0) * comp_sd, 0.05, 0.95),
        "scale": np.clip(0.22 + 0.06 * quality + rng.normal(0, 0.04, N), 0.08, 0.45),
        "aspect": np.clip(rng.uniform(0.7, 1.4, n_sess)[ps] + rng.normal(0, 0.05, N), 0.6, 1.5),
        "contrast": 0.35 + 0.65 * _sigmoid(1.2 * quality + 0.5),
        "blur": np.clip(0.9 - 0.6 * quality + rng.normal(0, 0.2, N), 0, 2.5) * cfg.image_size / 64,
        "noise_sd": cfg.image_noise_sd * (1 + 0.4 * np.clip(-quality, 0, None)),
    })

    # 6. label ------------------------------------------------------------------------------
    con_app = np.array([concept_appeal[s][c] for s, c in zip(post_sub, post_con)])
    comp = pd.DataFrame({
        "c_user": cfg.w_user * influence[post_user],
        "c_subcat": cfg.w_subcat * appeal_sub[post_sub],
        "c_concept": cfg.w_concept * con_app,
        "c_image": cfg.w_image * quality,
        "c_weekday": cfg.w_weekday * _WEEKDAY[weekday],
        "c_hour": cfg.w_hour * np.cos(2 * math.pi * (hour - cfg.hour_peak) / 24),
        "c_age": cfg.w_age * _z(age),
        "c_session": cfg.w_session * sess_effect[post_sess],
        "c_visual": cfg.w_visual * _z(np.cos(2 * math.pi * (images["fg_hue"].to_numpy() - 0.1))
                                      + 2.0 * images["val"].to_numpy() + images["sat"].to_numpy()
                                      + 4.0 * images["scale"].to_numpy()),
        "c_trend": cfg.w_trend * _z(trend),
        "c_tags": cfg.w_tags * _z(np.log1p(n_tags)),
        "c_spam": -cfg.w_spam * np.log1p(n_spam),
        "c_title": cfg.w_title * np.array([0.0, -1.0, 1.0])[title_kind],
    })
    raw = comp.to_numpy().sum(axis=1)
    # Gaussianised rank within the TRAIN posts (so train labels follow the real marginal
    # exactly); test posts are placed on the train ECDF, so the drift continues into test
    tr = ~is_test
    n_tr = int(tr.sum())
    raw_tr = np.sort(raw[tr], kind="stable")
    ranks = np.empty(N)
    ranks[np.flatnonzero(tr)[np.argsort(raw[tr], kind="stable")]] = np.arange(n_tr)
    ranks[is_test] = np.clip(np.searchsorted(raw_tr, raw[is_test]), 0, n_tr - 1)
    sig = cfg.label_noise_sd
    latent = math.sqrt(1 - sig**2) * ndtri((ranks + 0.5) / n_tr)
    noise = rng.normal(0, sig, N)
    label = np.round(quantile_map(ndtr(latent + noise)), 2)

    # assemble: rows in Pid order, Pid increasing with time (like Flickr ids)
    order = np.lexsort((np.arange(N), postdate))
    pid_of = np.empty(N, np.int64)
    pid_of[order] = 100_000 + np.cumsum(rng.integers(1, 40, N))
    split = np.where(is_test, "test", "train")
    uids = uid[post_user]
    tzid = np.where(has_tz, np.array([t[1] for t in _TIMEZONES])[tz], "")
    tzoff_s = np.array([("" if not h else f"{'-' if o < 0 else '+'}{int(abs(o)):02d}:{int(round(abs(o) % 1 * 60)):02d}")
                        for h, o in zip(has_tz, tz_off)], dtype=object)
    home = [_TIMEZONES[t][2][l] for t, l in zip(tz, loc_i)]
    geo = rng.random(N) < geo_prop[post_user]
    lat = np.array([home[u][1] for u in post_user]) + rng.normal(0, 0.2, N)
    lon = np.array([home[u][2] for u in post_user]) + rng.normal(0, 0.2, N)
    first = t0 - (86400 * 365 * np.clip(np.exp(1.0 + 0.3 * influence + rng.normal(0, 0.6, U)), 0.1, 12)).astype(np.int64)
    first_taken = first - (86400 * rng.exponential(200, U)).astype(np.int64)
    photo_count = np.exp(4.5 + 0.9 * influence + 0.6 * log_act + rng.normal(0, 0.8, U)).astype(np.int64) + counts
    ispro = rng.random(U) < _sigmoid(-1.2 + 0.9 * influence)
    canbuy = ~ispro & (rng.random(U) < 0.7)
    udesc = np.where(rng.random(U) < 0.45, "",
                     [" ".join(v[:3] + ["photography"]) for v in user_vocab])
    ldesc = np.where(rng.random(U) < 0.5, "", [h[0] for h in home])
    mediatype = np.where(rng.random(N) < cfg.video_share, "video", "photo")
    geoacc = np.where(geo, rng.integers(11, 17, N), 0)
    sub_names = np.array([s for _, s in pairs], dtype=object)
    cat_names = np.array([c for c, _ in pairs], dtype=object)
    pu = post_user
    posts = pd.DataFrame({
        "Pid": pid_of, "Uid": uids, "split": split,
        "Category": cat_names[post_sub],
        "Subcategory": [s.replace(" ", ",") for s in sub_names[post_sub]],
        "Concept": [concepts[s][c] for s, c in zip(post_sub, post_con)],
        "Title": titles, "Mediatype": mediatype, "Alltags": tags,
        "Postdate": postdate.astype(str),
        "Latitude": np.where(geo, np.char.mod("%.6f", lat), "0"),
        "Longitude": np.where(geo, np.char.mod("%.6f", lon), "0"),
        "Geoaccuracy": geoacc.astype(str),
        "Pathalias": alias[pu], "Ispublic": "1", "Mediastatus": "ready",
        "photo_firstdate": first[pu].astype(str), "photo_firstdatetaken": first_taken[pu].astype(str),
        "photo_count": photo_count[pu].astype(str), "ispro": ispro[pu].astype(int).astype(str),
        "canbuypro": canbuy[pu].astype(int).astype(str), "timezone_offset": tzoff_s[pu],
        "timezone_id": tzid[pu], "user_description": udesc[pu], "location_description": ldesc[pu],
        "label": label,
    })
    posts["img_path"] = posts["split"] + "/" + posts["Uid"] + "/" + posts["Pid"].astype(str) + ".jpg"
    latent_df = pd.concat([pd.DataFrame({"Pid": pid_of, "split": split, "latent_score": latent,
                                         "raw_score": raw}), comp,
                           pd.DataFrame({"noise": noise, "user_influence": influence[pu],
                                         "image_quality": quality})], axis=1)
    images.insert(0, "Pid", pid_of)
    images["img_path"] = posts["img_path"]
    srt = np.argsort(pid_of, kind="stable")
    return SimTables(posts.iloc[srt].reset_index(drop=True), latent_df.iloc[srt].reset_index(drop=True),
                     images.iloc[srt].reset_index(drop=True))


# --------------------------------------------------------------------------- images
def _rgb(h, s, v):
    return tuple(int(round(255 * x)) for x in colorsys.hsv_to_rgb(h % 1.0, min(max(s, 0), 1), min(max(v, 0), 1)))


def _render(p: dict, size: int, seed: int) -> Image.Image:
    """Draw one post's image from its parameters (extra randomness seeded by (seed, Pid))."""
    rng = np.random.default_rng([seed, 99, int(p["Pid"])])
    g = (np.arange(size, dtype=np.float32) + 0.5) / size
    xx, yy = np.meshgrid(g, g)
    t = math.cos(p["stripe_angle"]) * xx + math.sin(p["stripe_angle"]) * yy
    stripes = (0.5 + 0.5 * np.sin(2 * math.pi * p["stripe_freq"] * t + p["stripe_phase"]))[..., None]
    bg1 = np.array(_rgb(p["hue"], p["sat"], p["val"]), np.float32)
    bg2 = np.array(_rgb(p["hue"] + 0.08, p["sat"] * 0.7, p["val"] * 0.6), np.float32)
    img = bg1 * (1 - yy[..., None]) + bg2 * yy[..., None]
    img = img * (1 - p["stripe_amp"] * stripes) + 255 * p["stripe_amp"] * stripes * 0.3
    im = Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))
    d = ImageDraw.Draw(im)
    ec = _rgb(p["fg_hue"] + 0.5, 0.5, 0.9)
    for _ in range(int(p["n_extra"])):
        x, y = rng.uniform(0, size, 2)
        r = rng.uniform(0.03, 0.08) * size
        d.ellipse([x - r, y - r, x + r, y + r], fill=ec)
    fc = _rgb(p["fg_hue"], 0.85, 0.95)
    cx, cy = p["cx"] * size, p["cy"] * size
    rx, ry = p["scale"] * size * p["aspect"], p["scale"] * size / p["aspect"]
    kind = int(p["shape"])
    if kind == 0:
        d.ellipse([cx - rx, cy - ry, cx + rx, cy + ry], fill=fc)
    elif kind == 1:
        d.rectangle([cx - rx, cy - ry, cx + rx, cy + ry], fill=fc)
    elif kind == 2:
        d.polygon([(cx, cy - ry), (cx - rx, cy + ry), (cx + rx, cy + ry)], fill=fc)
    elif kind == 3:
        d.polygon([(cx, cy - ry), (cx + rx, cy), (cx, cy + ry), (cx - rx, cy)], fill=fc)
    elif kind == 4:
        d.ellipse([cx - rx, cy - ry, cx + rx, cy + ry], outline=fc, width=max(1, int(0.35 * rx)))
    else:
        w = 0.35
        d.rectangle([cx - rx, cy - w * ry, cx + rx, cy + w * ry], fill=fc)
        d.rectangle([cx - w * rx, cy - ry, cx + w * rx, cy + ry], fill=fc)
    if p["blur"] > 0.05:
        im = im.filter(ImageFilter.GaussianBlur(float(p["blur"])))
    arr = np.asarray(im, dtype=np.float32)
    m = arr.mean()
    arr = m + p["contrast"] * (arr - m) + rng.normal(0, p["noise_sd"], arr.shape).astype(np.float32)
    return Image.fromarray(np.clip(arr + 0.5, 0, 255).astype(np.uint8))


def _render_chunk(args) -> int:
    root, rows, size, seed, quality = args
    for p in rows:
        _render(p, size, seed).save(os.path.join(root, p["img_path"]), format="JPEG",
                                    quality=quality, optimize=False, subsampling=2)
    return len(rows)


def _write_images(root: Path, images: pd.DataFrame, cfg: SimConfig) -> None:
    for d in sorted({os.path.dirname(p) for p in images["img_path"]}):
        (root / d).mkdir(parents=True, exist_ok=True)
    rows = images.to_dict("records")
    chunk = max(50, min(500, -(-len(rows) // (4 * max(1, cfg.workers)))))
    jobs = [(str(root), rows[i:i + chunk], cfg.image_size, cfg.seed, cfg.jpeg_quality)
            for i in range(0, len(rows), chunk)]
    workers = max(1, min(cfg.workers, os.cpu_count() or 1, len(jobs)))
    if workers == 1:
        for j in jobs:
            _render_chunk(j)
        return
    ctx = mp.get_context("fork") if "fork" in mp.get_all_start_methods() else mp.get_context()
    with ProcessPoolExecutor(workers, mp_context=ctx) as ex:
        list(ex.map(_render_chunk, jobs))


# --------------------------------------------------------------------------- writing
_FILE_KEYS = {
    "category": ("Uid", "Pid", "Category", "Subcategory", "Concept"),
    "text": ("Uid", "Pid", "Title", "Mediatype", "Alltags"),
    "user": ("Uid", "Pid", "photo_firstdate", "photo_firstdatetaken", "photo_count", "ispro",
             "canbuypro", "timezone_offset", "timezone_id", "user_description",
             "location_description"),
    "additional": ("Uid", "Pid", "Pathalias", "Ispublic", "Mediastatus"),
    "temporalspatial": ("Uid", "Pid", "Postdate", "Latitude", "Longitude", "Geoaccuracy"),
}


def _write_split(root: Path, split: str, df: pd.DataFrame) -> None:
    df = df.assign(Pid=df["Pid"].astype(str))
    for kind, keys in _FILE_KEYS.items():
        recs = df.loc[:, list(keys)].to_dict("records")
        (root / schema.RAW_FILES[kind].format(split=split)).write_text(json.dumps(recs))
    (root / schema.RAW_FILES["label"].format(split=split)).write_text(
        "".join(f"{v:.2f}\n" for v in df["label"]))
    (root / schema.RAW_FILES["img_filepath"].format(split=split)).write_text(
        "".join(f"{p}\n" for p in df["img_path"]))


def simulate(out_dir, cfg: SimConfig, overwrite: bool = False, images: bool = True) -> dict:
    """Write SMPD-Sim into ``out_dir`` atomically (built in a temp folder beside it, renamed at
    the end). Refuses a non-empty ``out_dir`` unless ``overwrite``. Returns a summary."""
    t_start = time.perf_counter()
    out = Path(out_dir).resolve()
    if out.exists() and (not out.is_dir() or any(out.iterdir())) and not overwrite:
        raise FileExistsError(f"{out} exists and is not empty; pass overwrite=True to replace it")
    out.parent.mkdir(parents=True, exist_ok=True)
    tab = simulate_table(cfg)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    os.chmod(tmp, 0o755)                                     # mkdtemp makes it 0700
    try:
        for split in SPLITS:
            _write_split(tmp, split, tab.posts[tab.posts["split"] == split])
        if images:
            _write_images(tmp, tab.images, cfg)
        tab.latent.to_csv(tmp / "sim_latent.csv", index=False, float_format="%.6f", lineterminator="\n")
        counts = {s: int((tab.posts["split"] == s).sum()) for s in SPLITS}
        meta = {"config": asdict(cfg), "counts": counts, "users": int(tab.posts["Uid"].nunique()),
                "images": bool(images), "generator": "smpp_utils.data.sim"}
        (tmp / "sim_config.json").write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
        if out.exists():
            trash = out.parent / f".{out.name}.old-{os.getpid()}"
            os.replace(out, trash)
            os.replace(tmp, out)
            shutil.rmtree(trash, ignore_errors=True)
        else:
            os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return {"out_dir": str(out), "posts_train": counts["train"], "posts_test": counts["test"],
            "users": meta["users"], "image_size": cfg.image_size, "seed": cfg.seed,
            "seconds": round(time.perf_counter() - t_start, 3)}


# --------------------------------------------------------------------------- oracle
def oracle_predictions(latent, cfg: SimConfig) -> np.ndarray:
    """E[label | latent] = E_e Q(Phi(s + e)), e ~ N(0, label_noise_sd^2): stratified Monte
    Carlo over e with a fixed seed (the best MSE predictor given the noise-free score).
    The written labels are additionally rounded to 2 decimals (negligible)."""
    s = np.asarray(latent, dtype=float).ravel()
    K = int(cfg.oracle_draws)
    u = (np.arange(K) + np.random.default_rng(12_345).random(K)) / K
    e = cfg.label_noise_sd * ndtri(u)
    out = np.empty_like(s)
    step = max(1, 2_000_000 // K)
    for i in range(0, len(s), step):
        out[i:i + step] = quantile_map(ndtr(s[i:i + step, None] + e[None, :])).mean(axis=1)
    return out


def oracle_ceiling(latent, labels, cfg: SimConfig) -> dict[str, float]:
    """Metrics (mse, mae, src) of the oracle E[label | latent] against ``labels``."""
    return regression_metrics(labels, oracle_predictions(latent, cfg))


# --------------------------------------------------------------------------- CLI
def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(prog="python -m smpp_utils.data.sim", description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--posts", type=int, required=True)
    ap.add_argument("--seed", type=int, required=True)
    ap.add_argument("--users", type=int, default=None)
    ap.add_argument("--image-size", type=int, default=SimConfig.image_size)
    ap.add_argument("--test-ratio", type=float, default=SimConfig.test_ratio)
    ap.add_argument("--regime", default="smpd", choices=sorted(REGIMES))
    ap.add_argument("--overwrite", action="store_true")
    a = ap.parse_args(argv)
    cfg = regime_config(a.regime, posts=a.posts, seed=a.seed, users=a.users, image_size=a.image_size,
                        test_ratio=a.test_ratio)
    summary = simulate(a.out, cfg, overwrite=a.overwrite)
    print(json.dumps(summary, sort_keys=True))
    return summary

