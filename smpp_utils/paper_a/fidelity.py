"""Where a profile departs from Paper A's stated setting, in words for the table captions.

Paper A (arXiv 2508.16147) states: 256-shot visual and textual prototypes (Sec. 3.1) whose
textual side comes from CLIP's text encoder, 16 global and 8 local learnable prompt tokens
(Sec. 3.2), a pre-trained CLIP fine-tuned end to end (not a frozen backbone), and the 77%
lowest-loss training posts kept for the regressors (Sec. 3.4). The ``paper`` profile matches
all of these; ``ci`` and ``default`` trade some for CPU cost. :func:`differences` lists each
departure so that ``paperA_accuracy`` and ``paperA_main`` name them in their captions.
"""

from __future__ import annotations

from typing import Mapping

# (section, knob) -> (the paper's value, how the caption names the knob)
PAPER_A_KNOBS: dict[tuple[str, str], tuple[object, str]] = {
    ("prototypes", "shots"): (256, "prototype shots per subcategory"),
    ("prototypes", "text_encoder"): ("clip", "textual prototypes' encoder"),
    ("finetune", "global_ctx"): (16, "global prompt tokens"),
    ("finetune", "local_ctx"): (8, "local prompt tokens"),
    ("finetune", "freeze_backbone"): (False, "CLIP backbone frozen"),
    ("boosting", "select_frac"): (0.77, "loss-selected share of train posts"),
}
BACKBONE_KNOBS = ("prototypes.clip_pretrained", "prototypes.clip_model")   # the backbone note


def settings(profile: str, **stage_cfgs: Mapping) -> dict[str, dict]:
    """``{section: {knob: value}}`` of the knobs the caption compares (``PAPER_A_KNOBS``,
    ``BACKBONE_KNOBS``) for ``profile``; ``stage_cfgs`` (e.g. ``finetune=vars(cfg)``) give the
    calling stage's resolved knobs, which win over params.yaml."""
    from ..core import config

    out: dict[str, dict] = {}
    for sec, key in [*PAPER_A_KNOBS, *(k.split(".") for k in BACKBONE_KNOBS)]:
        given = stage_cfgs.get(sec, {})
        out.setdefault(sec, {})[key] = given[key] if key in given else config.knob(f"{sec}.{key}", profile)
    return out


def differences(sections: Mapping[str, Mapping]) -> list[str]:
    """One phrase per knob of ``sections`` ({section: {knob: value}}, e.g. :func:`settings`)
    that differs from Paper A's setting, plus the
    backbone when no pre-trained checkpoint is given (``prototypes.clip_pretrained`` empty:
    a small CLIP pre-trained on the dataset's own train split)."""
    out = []
    for (sec, key), (paper, what) in PAPER_A_KNOBS.items():
        ours = sections.get(sec, {}).get(key)
        if ours is not None and ours != paper:
            out.append(f"{what} {_fmt(ours)} (paper: {_fmt(paper)})")
    proto = sections.get("prototypes", {})
    if not proto.get("clip_pretrained"):
        out.append(f"backbone `{proto.get('clip_model')}` pre-trained here on the train split "
                   "(paper: pre-trained CLIP)")
    return out


def caption_note(sections: Mapping[str, Mapping], profile: str) -> str:
    """The caption sentence: 'Differs from Paper A's setting: ...' or that it matches."""
    diff = differences(sections)
    if not diff:
        return f"Profile `{profile}` uses Paper A's stated setting (shots, prompts, encoders, selection)."
    return f"Profile `{profile}` differs from Paper A's setting for CPU cost: " + "; ".join(diff) + "."


def _fmt(v) -> str:
    if isinstance(v, bool):
        return "yes" if v else "no"
    return str(v)
