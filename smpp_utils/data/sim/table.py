"""``simulate_table``: the generative process as named steps, in the order they draw from the
one seeded stream (the order is part of the byte-reproducibility contract: reordering steps
changes every file)."""

from __future__ import annotations

import numpy as np

from .config import SimConfig, SimTables
from .images import image_params
from .labels import draw_labels, label_components
from .records import assemble
from .sessions import draw_sessions
from .taxonomy import draw_taxonomy
from .text import draw_text
from .timeline import draw_timeline, topic_trend
from .users import draw_users


def simulate_table(cfg: SimConfig) -> SimTables:
    """Draw every post (all fields, latent components, image parameters) without writing."""
    cfg.validate()
    rng = np.random.default_rng([cfg.seed, 20_240_601])
    vrng = np.random.default_rng([cfg.seed, 1])              # vocabulary only
    N, n_test, U = cfg.n_total(), cfg.n_test(), cfg.n_users()
    tax = draw_taxonomy(cfg, rng, vrng)                                   # 1. taxonomy
    users = draw_users(cfg, rng, vrng, N, U, tax.taken)                   # 2. users
    ses = draw_sessions(cfg, rng, N, U, users.counts, users.n_topics, tax)  # upload sessions
    tl = draw_timeline(cfg, rng, N, n_test, users.counts, users.tz_off, ses)  # 3. time
    trend = topic_trend(cfg, rng, tax.S, ses.post_sub, tl.tfrac)          # topic trends
    text = draw_text(cfg, rng, N, tax, users, ses)                        # 4. text
    quality, images = image_params(cfg, rng, N, users.skill, tax, ses)    # 5. images
    con_app = np.array([tax.concept_appeal[s][c] for s, c in zip(ses.post_sub, ses.post_con)])
    comp = label_components(                                              # 6. label
        cfg, influence_post=users.influence[ses.post_user], appeal_sub_post=tax.appeal_sub[ses.post_sub],
        concept_appeal_post=con_app, quality=quality, weekday=tl.weekday, hour=tl.hour, age=tl.age,
        session_effect_post=ses.sess_effect[ses.post_sess], images=images, trend=trend,
        n_tags=text.n_tags, n_spam=text.n_spam, title_kind=text.title_kind)
    lab = draw_labels(cfg, rng, comp, tl.is_test)
    return assemble(cfg, rng, tax, users, ses, tl, text, images, quality, lab)  # fields, Pid order
