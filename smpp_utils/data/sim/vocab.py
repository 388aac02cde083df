"""Word lists, time zones and activity profiles the simulator draws from, and small helpers
(pseudo-words, standardisation, sigmoid)."""

from __future__ import annotations

import numpy as np

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

