"""Assembly: Flickr-like Pids increasing with time, the raw-file fields of every post (geotags,
media type) and user (profile dates, photo count, pro status, descriptions), and the three
``SimTables`` frames in Pid order."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .config import SimConfig, SimTables
from .labels import Label
from .sessions import Sessions
from .taxonomy import Taxonomy
from .text import Text
from .timeline import Timeline
from .users import Users
from .vocab import _TIMEZONES, _sigmoid


def assign_pids(rng: np.random.Generator, postdate: np.ndarray) -> np.ndarray:
    """(N,) Pid: increasing with time (like Flickr ids), random gaps 1..39."""
    N = len(postdate)
    order = np.lexsort((np.arange(N), postdate))
    pid_of = np.empty(N, np.int64)
    pid_of[order] = 100_000 + np.cumsum(rng.integers(1, 40, N))
    return pid_of


def assemble(cfg: SimConfig, rng: np.random.Generator, tax: Taxonomy, users: Users, ses: Sessions,
             tl: Timeline, text: Text, images: pd.DataFrame, quality: np.ndarray, lab: Label) -> SimTables:
    """Draw the remaining raw-file fields and build the tables (rows in Pid order)."""
    N, U = len(ses.post_user), len(users.counts)
    influence, post_user, post_sub, post_con = users.influence, ses.post_user, ses.post_sub, ses.post_con
    pid_of = assign_pids(rng, tl.postdate)
    split = np.where(tl.is_test, "test", "train")
    uids = users.uid[post_user]
    tzid = np.where(users.has_tz, np.array([t[1] for t in _TIMEZONES])[users.tz], "")
    tzoff_s = np.array([("" if not h else f"{'-' if o < 0 else '+'}{int(abs(o)):02d}:{int(round(abs(o) % 1 * 60)):02d}")
                        for h, o in zip(users.has_tz, users.tz_off)], dtype=object)
    home = [_TIMEZONES[t][2][l] for t, l in zip(users.tz, users.loc_i)]
    # geotags near the user's home
    geo = rng.random(N) < users.geo_prop[post_user]
    lat = np.array([home[u][1] for u in post_user]) + rng.normal(0, 0.2, N)
    lon = np.array([home[u][2] for u in post_user]) + rng.normal(0, 0.2, N)
    # user profile fields follow influence and activity
    first = tl.t0 - (86400 * 365 * np.clip(np.exp(1.0 + 0.3 * influence + rng.normal(0, 0.6, U)), 0.1, 12)).astype(np.int64)
    first_taken = first - (86400 * rng.exponential(200, U)).astype(np.int64)
    photo_count = (np.exp(4.5 + 0.9 * influence + 0.6 * users.log_act + rng.normal(0, 0.8, U)).astype(np.int64)
                   + users.counts)
    ispro = rng.random(U) < _sigmoid(-1.2 + 0.9 * influence)
    canbuy = ~ispro & (rng.random(U) < 0.7)
    udesc = np.where(rng.random(U) < 0.45, "",
                     [" ".join(v[:3] + ["photography"]) for v in users.user_vocab])
    ldesc = np.where(rng.random(U) < 0.5, "", [h[0] for h in home])
    # post fields
    mediatype = np.where(rng.random(N) < cfg.video_share, "video", "photo")
    geoacc = np.where(geo, rng.integers(11, 17, N), 0)
    sub_names = np.array([s for _, s in tax.pairs], dtype=object)
    cat_names = np.array([c for c, _ in tax.pairs], dtype=object)
    pu = post_user
    posts = pd.DataFrame({
        "Pid": pid_of, "Uid": uids, "split": split,
        "Category": cat_names[post_sub],
        "Subcategory": [s.replace(" ", ",") for s in sub_names[post_sub]],
        "Concept": [tax.concepts[s][c] for s, c in zip(post_sub, post_con)],
        "Title": text.titles, "Mediatype": mediatype, "Alltags": text.tags,
        "Postdate": tl.postdate.astype(str),
        "Latitude": np.where(geo, np.char.mod("%.6f", lat), "0"),
        "Longitude": np.where(geo, np.char.mod("%.6f", lon), "0"),
        "Geoaccuracy": geoacc.astype(str),
        "Pathalias": users.alias[pu], "Ispublic": "1", "Mediastatus": "ready",
        "photo_firstdate": first[pu].astype(str), "photo_firstdatetaken": first_taken[pu].astype(str),
        "photo_count": photo_count[pu].astype(str), "ispro": ispro[pu].astype(int).astype(str),
        "canbuypro": canbuy[pu].astype(int).astype(str), "timezone_offset": tzoff_s[pu],
        "timezone_id": tzid[pu], "user_description": udesc[pu], "location_description": ldesc[pu],
        "label": lab.label,
    })
    posts["img_path"] = posts["split"] + "/" + posts["Uid"] + "/" + posts["Pid"].astype(str) + ".jpg"
    latent_df = pd.concat([pd.DataFrame({"Pid": pid_of, "split": split, "latent_score": lab.latent,
                                         "raw_score": lab.raw}), lab.comp,
                           pd.DataFrame({"noise": lab.noise, "user_influence": influence[pu],
                                         "image_quality": quality})], axis=1)
    images = images.copy()
    images.insert(0, "Pid", pid_of)
    images["img_path"] = posts["img_path"]
    srt = np.argsort(pid_of, kind="stable")
    return SimTables(posts.iloc[srt].reset_index(drop=True), latent_df.iloc[srt].reset_index(drop=True),
                     images.iloc[srt].reset_index(drop=True))
