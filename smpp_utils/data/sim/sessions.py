"""Upload sessions: each user's posts come in bursts (geometric length, mean
``session_mean_len``) sharing one subcategory/concept (drawn from the user's preferred topics,
or any with probability ``topic_explore``), a scene and a session effect N(0, 1)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .config import SimConfig
from .taxonomy import Taxonomy


@dataclass
class Sessions:
    post_user: np.ndarray        # (N,) user of each post (posts grouped by user)
    sess_new: np.ndarray         # (N,) post opens a session
    post_sess: np.ndarray        # (N,) session of each post
    sess_user: np.ndarray        # (n_sess,) user of each session
    post_sub: np.ndarray         # (N,) subcategory of each post
    post_con: np.ndarray         # (N,) concept (index within its subcategory)
    sess_effect: np.ndarray      # (n_sess,) session effect ~ N(0, 1)

    @property
    def n_sess(self) -> int:
        return len(self.sess_user)


def draw_sessions(cfg: SimConfig, rng: np.random.Generator, N: int, U: int, counts: np.ndarray,
                  n_topics: np.ndarray, tax: Taxonomy) -> Sessions:
    S, p_sub = tax.S, tax.p_sub
    post_user = np.repeat(np.arange(U), counts)               # grouped by user
    # mean session length of each user: 1 + (session_mean_len - 1) * lognormal(mean 1, sd session_len_sigma)
    sig = cfg.session_len_sigma
    extra = np.exp(sig * np.random.default_rng([cfg.seed, 7]).normal(size=U) - sig**2 / 2) if sig > 0 else np.ones(U)
    len_u = 1.0 + (max(cfg.session_mean_len, 1.0) - 1.0) * extra
    sess_new = np.r_[True, post_user[1:] != post_user[:-1]] | (rng.random(N) < 1.0 / len_u[post_user])
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
        sess_con[idx] = rng.choice(len(tax.concepts[si]), size=len(idx), p=tax.concept_p[si])
    post_sub, post_con = sess_sub[post_sess], sess_con[post_sess]
    sess_effect = rng.normal(size=n_sess)
    return Sessions(post_user, sess_new, post_sess, sess_user, post_sub, post_con, sess_effect)
