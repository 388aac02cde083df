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

Modules (one concern each; the steps run in this order from one seeded stream)
-------------------------------------------------------------------------------
``config``    SimConfig, REGIMES, regime_config, SimTables     ``vocab``     word lists, time zones, helpers
``taxonomy``  1. subcategories, concepts, vocabularies, styles ``users``     2. users
``sessions``  upload sessions (subject, scene, effect)         ``timeline``  3. time, cold start, trends
``text``      4. titles and tags                               ``images``    5. quality, render params, JPEGs
``labels``    6. components, latent, label, oracle             ``records``   raw-file fields, Pid order
``table``     simulate_table (the steps in order)              ``writer``    simulate (official files)
``cli``       python -m smpp_utils.data.sim                    ``calibrate`` real-vs-sim statistics
"""

from __future__ import annotations

from .cli import main
from .config import REGIMES, SimConfig, SimTables, regime_config
from .labels import oracle_ceiling, oracle_predictions
from .table import simulate_table
from .writer import SPLITS, simulate

__all__ = ["REGIMES", "SPLITS", "SimConfig", "SimTables", "main", "oracle_ceiling", "oracle_predictions",
           "regime_config", "simulate", "simulate_table"]
