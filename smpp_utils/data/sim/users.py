"""Step 2 of the generative process: users. Heavy-tailed activity, latent influence (correlated
with activity), skill, time zone and home, geotag propensity, spammers, tag habits, topic
counts, ids and personal vocabularies."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .config import SimConfig
from .vocab import _TIMEZONES, _TZ_WEIGHTS, _pseudo_words, _sigmoid, _z


@dataclass
class Users:
    counts: np.ndarray           # (U,) posts of each user (>= 1)
    log_act: np.ndarray          # (U,) standardised log activity
    influence: np.ndarray        # (U,) latent influence i_u
    skill: np.ndarray            # (U,) photographic skill
    tz: np.ndarray               # (U,) index into _TIMEZONES
    has_tz: np.ndarray           # (U,) profile shows a time zone
    tz_off: np.ndarray           # (U,) offset hours (0 when not shown)
    loc_i: np.ndarray            # (U,) home location within the time zone
    geo_prop: np.ndarray         # (U,) geotag propensity
    spammer: np.ndarray          # (U,) bool
    tag_lam: np.ndarray          # (U,) mean tags per post
    n_topics: np.ndarray         # (U,) preferred subcategories, 1..3
    uid: np.ndarray              # (U,) Flickr-style user ids
    user_vocab: list             # per user: personal tag words
    alias: np.ndarray            # (U,) Pathalias ("None" when absent)


def draw_users(cfg: SimConfig, rng: np.random.Generator, vrng: np.random.Generator,
               N: int, U: int, taken: set) -> Users:
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
    return Users(counts, log_act, influence, skill, tz, has_tz, tz_off, loc_i, geo_prop, spammer,
                 tag_lam, n_topics, uid, user_vocab, alias)
