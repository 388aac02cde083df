"""SMPD facts shared by the reader and the simulator.

Provenance: taxonomy and per-category post counts from ``shared/data/smpd/
taxonomy_and_schema.json`` (gathered from public SMPD / SMP Challenge 2020 files);
SMPD train size 305,613 posts, 38,312 users (JRPP Table 1).
"""

from __future__ import annotations

# 11 categories and the 71 subcategory names seen in public SMPD files. Spaces inside a
# subcategory are written as commas in the raw data ('Girls,Fashion'); the canonical table
# uses spaces. ('Whether&Season' is spelled as in the data.)
TAXONOMY: dict[str, list[str]] = {
    "Animal": ["Cats", "Dogs", "Fish", "Horses", "Insects"],
    "Electronics": ["Electronics"],
    "Entertainment": ["Books", "Movies", "Music", "Video&Games"],
    "Family": ["Babies", "Kids"],
    "Fashion": ["Bracelets", "Earrings", "Fashion", "Girls Fashion", "Guys Fashion", "Hair",
                "High Heels", "Jewelry", "Makeup", "Nails", "OOTD", "Sneakers", "Tattoos"],
    "Food": ["Coffee", "Dessert", "Drinks", "General", "Tea"],
    "Holiday&Celebrations": ["Birthday", "Christmas", "Halloween", "Party", "Thanksgiving",
                             "Wedding"],
    "Social&People": ["Friends", "Girls", "Good", "Good Morning", "Guys", "Love", "Selfies"],
    "Travel&Active&Sports": ["Baltimore", "Baseball", "Basketball", "Bodybuilding", "Cars",
                             "Cheerleading", "Dance", "Football", "Gymnastics", "Health Fitness",
                             "Hockey", "Motorcycles", "Running", "Seattle", "Skateboarding",
                             "Soccer", "Sports", "Travel"],
    "Urban": ["Architecture", "StreetArt"],
    "Whether&Season": ["Cloudy", "Fall", "Raining", "Snowing", "Spring", "Summer", "Sunny",
                       "Winter"],
}

# Real SMPD has 77 subcategories; 6 were not seen in public files. SMPD-Sim fills the gap
# with these simulator-only names (prefixed 'Sim-' so they can never be mistaken for real).
SIM_ONLY_SUBCATEGORIES: dict[str, list[str]] = {
    "Animal": ["Sim-Birds"],
    "Food": ["Sim-Baking"],
    "Urban": ["Sim-Bridges"],
    "Electronics": ["Sim-Gadgets"],
    "Family": ["Sim-Grandparents"],
    "Whether&Season": ["Sim-Fog"],
}

# Real SMPD posts per category, (train, test) of SMP Challenge 2020.
POSTS_PER_CATEGORY: dict[str, tuple[int, int]] = {
    "Travel&Active&Sports": (66469, 45462),
    "Holiday&Celebrations": (54751, 19485),
    "Fashion": (49282, 17961),
    "Entertainment": (29590, 17969),
    "Social&People": (23351, 14447),
    "Whether&Season": (20292, 14926),
    "Animal": (19992, 18482),
    "Food": (16727, 11833),
    "Urban": (15272, 12000),
    "Electronics": (5613, 5987),
    "Family": (4274, 2029),
}

SMPD_TRAIN_POSTS = 305_613
SMPD_TRAIN_USERS = 38_312

# Plausible range of the SMPD label (log-scaled views): real train min 1.0, max 16.56.
LABEL_RANGE = (0.0, 30.0)

# The seven official files of a split, with '{split}' standing for train/test.
RAW_FILES = {
    "category": "{split}_category.json",
    "text": "{split}_text.json",
    "user": "{split}_user_data.json",
    "additional": "{split}_additional_information.json",
    "temporalspatial": "{split}_temporalspatial_information.json",
    "label": "{split}_label.txt",
    "img_filepath": "{split}_img_filepath.txt",
}

# Canonical table written by the reader (data/<profile>/posts.parquet), in this order.
CANONICAL_COLUMNS: dict[str, str] = {
    "Pid": "int64",
    "Uid": "string",
    "category": "string",
    "subcategory": "string",          # spaces, never commas
    "concept": "string",
    "title": "string",                # "" when empty
    "tags": "string",                 # space separated, "" when none
    "mediatype": "string",
    "postdate": "datetime64[ns, UTC]",
    "latitude": "float64",            # NaN when absent ('0' or '')
    "longitude": "float64",
    "geoaccuracy": "Int64",
    "pathalias": "string",            # <NA> when 'None'
    "ispublic": "Int64",
    "mediastatus": "string",
    "photo_firstdate": "datetime64[ns, UTC]",
    "photo_firstdatetaken": "datetime64[ns, UTC]",
    "photo_count": "Int64",
    "ispro": "Int64",
    "canbuypro": "Int64",
    "timezone_offset": "string",
    "timezone_id": "string",
    "user_description": "string",
    "location_description": "string",
    "img_path": "string",             # as in {split}_img_filepath.txt, relative to the root
    "label": "float64",               # NaN for unlabelled test posts
    "source_split": "string",         # 'train' | 'test' (the official file it came from)
}


def all_subcategories(include_sim: bool = True) -> list[tuple[str, str]]:
    """(category, subcategory) pairs in a fixed order: 71 real (+6 simulator-only)."""
    pairs = [(c, s) for c, subs in TAXONOMY.items() for s in subs]
    if include_sim:
        pairs += [(c, s) for c, subs in SIM_ONLY_SUBCATEGORIES.items() for s in subs]
    return pairs


# JSON types each field of the five official JSON files may hold (the schema in
# shared/data/smpd/taxonomy_and_schema.json: text fields are strings; ids, numbers and dates
# are strings in the 2020 release and numbers in some others; flags may also be booleans).
# 'null' (or an absent key) is allowed type-wise; required values (Pid, Uid, Category,
# Subcategory, Postdate) are checked for emptiness separately.
TEXT, NUMBER, FLAG = ("string", "null"), ("string", "number", "null"), \
    ("string", "number", "boolean", "null")
RAW_FIELD_TYPES: dict[str, dict[str, tuple[str, ...]]] = {
    "category": {"Uid": NUMBER, "Pid": NUMBER, "Category": TEXT, "Subcategory": TEXT,
                 "Concept": TEXT},
    "text": {"Uid": NUMBER, "Pid": NUMBER, "Title": TEXT, "Mediatype": TEXT, "Alltags": TEXT},
    "temporalspatial": {"Uid": NUMBER, "Pid": NUMBER, "Postdate": NUMBER, "Latitude": NUMBER,
                        "Longitude": NUMBER, "Geoaccuracy": NUMBER},
    "additional": {"Uid": NUMBER, "Pid": NUMBER, "Pathalias": TEXT, "Ispublic": FLAG,
                   "Mediastatus": TEXT},
    "user": {"Uid": NUMBER, "Pid": NUMBER, "photo_firstdate": NUMBER,
             "photo_firstdatetaken": NUMBER, "photo_count": NUMBER, "ispro": FLAG,
             "canbuypro": FLAG, "timezone_offset": TEXT, "timezone_id": TEXT,
             "timezone_timezone_id": TEXT, "user_description": TEXT,
             "location_description": TEXT},
}
