"""Step 4: titles and tags. With probability ``tag_noise_rate`` a post's text is drawn from
another subcategory (noisy relative to its class). Titles: empty, camera-style or 2-6 words;
tags mix subcategory, user and generic/noise vocabularies; spammers add spam tags."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .config import SimConfig
from .sessions import Sessions
from .taxonomy import Taxonomy
from .users import Users
from .vocab import _CAMERA, _COMMON, _GENERIC_TAGS, _SPAM_TAGS


@dataclass
class Text:
    title_kind: np.ndarray       # (N,) 0 empty, 1 camera-style, 2 words
    titles: list                 # (N,) strings
    tags: list                   # (N,) space-separated tags
    n_tags: np.ndarray           # (N,) tags other than spam
    n_spam: np.ndarray           # (N,) spam tags


def draw_text(cfg: SimConfig, rng: np.random.Generator, N: int, tax: Taxonomy, users: Users,
              ses: Sessions) -> Text:
    concepts, sub_vocab = tax.concepts, tax.sub_vocab
    text_sub = np.where(rng.random(N) < cfg.tag_noise_rate, rng.choice(tax.S, size=N, p=tax.p_sub), ses.post_sub)
    u_title = rng.random(N)
    title_kind = np.where(u_title < cfg.empty_title_share, 0,
                          np.where(u_title < cfg.empty_title_share + cfg.camera_title_share, 1, 2))
    titles, tags, n_tags, n_spam = [], [], np.zeros(N, int), np.zeros(N, int)
    src_p = np.asarray(cfg.tag_source_probs)
    for i in range(N):
        u, si = ses.post_user[i], text_sub[i]
        con = concepts[si][min(ses.post_con[i], len(concepts[si]) - 1)]
        if title_kind[i] == 0:
            titles.append("")
        elif title_kind[i] == 1:
            titles.append(_CAMERA[rng.integers(len(_CAMERA))].format(int(rng.integers(0, 10_000))))
        else:
            k = int(rng.integers(2, 7))
            pool = sub_vocab[si] + [con.split("_")[0]] * 2 + list(_COMMON[:12])
            words = [pool[j] for j in rng.integers(0, len(pool), k)]
            titles.append(" ".join(words).capitalize())
        k = min(int(rng.poisson(users.tag_lam[u])), cfg.tags_max)
        src = rng.choice(3, size=k, p=src_p)
        tg = [con] if k else []
        for s_ in src:
            if s_ == 0:
                tg.append(sub_vocab[si][rng.integers(len(sub_vocab[si]))])
            elif s_ == 1:
                tg.append(users.user_vocab[u][rng.integers(len(users.user_vocab[u]))])
            elif rng.random() < 0.5:
                tg.append(_GENERIC_TAGS[rng.integers(len(_GENERIC_TAGS))])
            else:
                tg.append(tax.noise_vocab[rng.integers(len(tax.noise_vocab))])
        tg = list(dict.fromkeys(tg))
        n_tags[i] = len(tg)
        ns = 0
        if users.spammer[u]:
            ns = 1 + int(rng.poisson(cfg.spam_tags_mean - 1))
        elif rng.random() < cfg.spam_tag_rate:
            ns = int(rng.integers(1, 3))
        if ns:
            sp = list(dict.fromkeys(_SPAM_TAGS[j] for j in rng.integers(0, len(_SPAM_TAGS), ns)))
            n_spam[i] = len(sp)
            tg += sp
        tags.append(" ".join(tg))
    return Text(title_kind, titles, tags, n_tags, n_spam)
