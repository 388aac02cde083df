"""SimConfig (every weight and share of the generative process, one comment per field), the
named regimes (``REGIMES``: overrides on top of the calibrated default) and ``SimTables``
(what ``simulate_table`` returns before anything is written)."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd


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
    activity_sigma: float = 1.1         # lognormal sd of posting-activity weights (1.4 let 1-3 users hold 2-5% of a 20k sample: seed-to-seed spread)
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
    quality_user_corr: float = 0.2      # share of image-quality variance from the user's skill
    skill_influence_corr: float = 0.3
    image_noise_sd: float = 10.0
    hue_jitter: float = 0.04
    jpeg_quality: int = 90
    workers: int = 2
    # label (weights on standardised components)
    w_user: float = 0.38
    w_subcat: float = 0.3
    w_concept: float = 0.2
    w_image: float = 0.8
    w_weekday: float = 0.12
    w_hour: float = 0.2
    w_age: float = 0.55                 # long-run drift: older posts have more views (linear in age)
    w_tags: float = 0.3
    w_spam: float = 0.5
    w_title: float = 0.1
    # --- SMPD-Sim v2 mechanisms (issue 10); each names the claim it makes testable ---------
    regime: str = "smpd"               # name of the regime these values came from (REGIMES)
    # upload sessions: bursts of near-duplicate posts by one user sharing time, subject, scene
    # and a session effect -> retrieval of similar posts beats the user mean (random split)
    session_mean_len: float = 8.0       # mean posts per session (geometric per user); 1 = no sessions
    session_len_sigma: float = 1.2      # per-user lognormal sd of the mean session length (batch uploaders):
                                        # a mixture of geometrics, so P(same session at lag L) decays slower than geometric
    session_gap_min: float = 3.0        # mean minutes between posts of a session
    w_session: float = 0.1              # weight of the per-session effect N(0,1)
    # users are active over a part of the period -> Pid neighbours share users (lag autocorr)
    user_span: float = 0.01             # sd of a user's session times, as a share of the period
    # cold start: share of TEST posts by users whose first post is after the train period
    cold_start_share: float = 0.3       # -> user features fail on the chronological split
    # smooth visual appeal of the rendered content (hue, brightness, saturation, size)
    w_visual: float = 0.35              # -> image features and kNN carry signal beyond class/user
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
    "content-dominated": {"w_user": 0.2, "w_visual": 1.2, "w_image": 1.3, "w_subcat": 0.8, "w_session": 0.1},
    # topic trends and bursts dominate: narrow, strong subcategory bumps in time
    "trend-driven": {"w_trend": 1.3, "trend_width": 0.04, "w_user": 0.3},
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
