"""Time: when each session happens and what time does to popularity. Users are active around
a centre time (``user_span``); ``cold_start_share`` of the test posts are by users first seen
after the train period; the ``n_test`` latest posts are the test files; weekday, local hour and
age of every post; per-subcategory Gaussian trend bumps in time (``w_trend``, ``trend_width``)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .config import SimConfig
from .sessions import Sessions
from .vocab import _DIURNAL


@dataclass
class Timeline:
    t0: int                      # start of the period (unix s)
    t_end: int                   # end of the period (unix s)
    postdate: np.ndarray         # (N,) unix s (UTC)
    is_test: np.ndarray          # (N,) among the n_test latest posts
    hour: np.ndarray             # (N,) local hour
    weekday: np.ndarray          # (N,) local weekday, Monday = 0
    age: np.ndarray              # (N,) days before the end of the period
    tfrac: np.ndarray            # (N,) position in the period, [0, 1)


def period(cfg: SimConfig) -> tuple[int, int, int]:
    """Start, end of the train months, end of the test months (unix seconds, UTC)."""
    start = pd.Timestamp(cfg.start_date, tz="UTC")
    t0 = int(start.timestamp())
    t_split = int((start + pd.DateOffset(months=cfg.months)).timestamp())
    t_end = int((start + pd.DateOffset(months=cfg.months + cfg.test_months)).timestamp())
    return t0, t_split, t_end


def cold_start_users(cfg: SimConfig, rng: np.random.Generator, counts: np.ndarray, n_test: int) -> np.ndarray:
    """(U,) bool: users (random order) whose posts fill about ``cold_start_share * n_test``."""
    U = len(counts)
    cold = np.zeros(U, bool)
    if n_test and cfg.cold_start_share > 0:
        target, acc = cfg.cold_start_share * n_test, 0
        for u in rng.permutation(U):
            if acc + counts[u] <= 1.2 * target:
                cold[u] = True
                acc += counts[u]
            if acc >= target:
                break
    return cold


def warm_users_seen_in_train(cfg: SimConfig, rng: np.random.Generator, frac: np.ndarray, ses: Sessions,
                             cold: np.ndarray, n_test: int, rounds: int = 3) -> np.ndarray:
    """A warm user is one seen in train: a warm user's earliest session that falls among the
    ``n_test`` latest posts (the test files) moves to a uniform time before them (a returning
    user). With 1-2 sessions per user, a user centred near the split would otherwise be new in
    test, and nearly every test user would be cold whatever ``cold_start_share`` says. The test
    boundary moves as sessions move, so this runs ``rounds`` times."""
    if not n_test:
        return frac
    frac = frac.copy()
    size = np.bincount(ses.post_sess, minlength=len(frac))
    warm = ~cold[ses.sess_user]
    for _ in range(rounds):
        order = np.argsort(frac, kind="stable")
        tail = np.cumsum(size[order][::-1])[::-1]            # posts at or after each session
        boundary = frac[order][np.flatnonzero(tail >= n_test)[-1]]
        first = np.full(len(cold), np.inf)
        np.minimum.at(first, ses.sess_user, frac)
        late = warm & (frac == first[ses.sess_user]) & (frac >= boundary)
        if not late.any():
            break
        frac[late] = rng.uniform(0, boundary, int(late.sum()))
    return frac


def draw_timeline(cfg: SimConfig, rng: np.random.Generator, N: int, n_test: int,
                  counts: np.ndarray, tz_off: np.ndarray, ses: Sessions) -> Timeline:
    t0, t_split, t_end = period(cfg)
    U, n_sess = len(counts), ses.n_sess
    # users: a centre of activity in [0, 1) (cold-start users: after the train period only);
    # sessions near it; the n_test latest posts are the test files (strictly later in time)
    f_split = (t_split - t0) / (t_end - t0)
    cold = cold_start_users(cfg, rng, counts, n_test)
    # warm users' centres span [0, f_w) so that about (1 - cold share) of the test posts are theirs
    r = min(0.99, (n_test - counts[cold].sum()) / max(N - counts[cold].sum(), 1)) if n_test else 0.0
    f_w = min(1.0, f_split / (1 - max(r, 0.0)))
    centre = np.where(cold, rng.uniform(f_split, 1, U), rng.uniform(0, f_w, U))
    lo_u = np.where(cold, f_split, 0.0)
    frac = np.clip(centre[ses.sess_user] + cfg.user_span * rng.normal(size=n_sess), lo_u[ses.sess_user], 1 - 1e-6)
    frac = warm_users_seen_in_train(cfg, rng, frac, ses, cold, n_test)
    sess_day = (t0 // 86400 + np.floor(frac * (t_end - t0) / 86400)).astype(np.int64)
    sess_hour = rng.choice(24, size=n_sess, p=_DIURNAL / _DIURNAL.sum())
    gaps = rng.exponential(60 * cfg.session_gap_min, N)
    gaps[ses.sess_new] = 0.0
    within = np.cumsum(gaps) - np.repeat(np.cumsum(gaps)[ses.sess_new], np.bincount(ses.post_sess))
    sec_local = (sess_hour[ses.post_sess] * 3600 + rng.integers(0, 3600, n_sess)[ses.post_sess]
                 + within.astype(np.int64))
    offset_s = (tz_off[ses.post_user] * 3600).astype(np.int64)
    postdate = np.clip(sess_day[ses.post_sess] * 86400 + sec_local - offset_s, t0, t_end - 1)
    is_test = np.zeros(N, bool)
    if n_test:
        is_test[np.lexsort((np.arange(N), postdate))[N - n_test:]] = True
    local = postdate + offset_s
    hour = (local // 3600) % 24
    weekday = ((local // 86400) + 3) % 7                      # 1970-01-01 was a Thursday
    age = (t_end - postdate) / 86400.0
    tfrac = (postdate - t0) / (t_end - t0)
    return Timeline(t0, t_end, postdate, is_test, hour, weekday, age, tfrac)


def topic_trend(cfg: SimConfig, rng: np.random.Generator, S: int, post_sub: np.ndarray,
                tfrac: np.ndarray) -> np.ndarray:
    """(N,) trend value: each subcategory's Gaussian bump (centre U(0, 1), height N(0, 1),
    sd ``trend_width``) evaluated at the post's time."""
    trend_c, trend_a = rng.uniform(0, 1, S), rng.normal(size=S)
    return trend_a[post_sub] * np.exp(-0.5 * ((tfrac - trend_c[post_sub]) / cfg.trend_width) ** 2)
