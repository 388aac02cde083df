"""Paper A's stated setting vs the profiles (issue 9, paper-profile fidelity)."""

from __future__ import annotations

from smpp_utils.core import config
from smpp_utils.paper_a import fidelity


def _sections(profile):
    return config.profile_block(profile, config.load_params())["sections"]


def test_paper_profile_matches_paper_a_setting():
    """The `paper` profile states Paper A's setting: 256 shots, CLIP text prototypes,
    16 global / 8 local prompts, a fine-tuned pre-trained CLIP, 77% selection."""
    s = _sections("paper")
    assert fidelity.differences(s) == []
    assert s["prototypes"]["text_encoder"] == "clip" and s["prototypes"]["shots"] == 256
    assert (s["finetune"]["global_ctx"], s["finetune"]["local_ctx"]) == (16, 8)
    assert "uses Paper A's stated setting" in fidelity.caption_note(s, "paper")


def test_each_difference_is_named_hand_checked():
    s = {"prototypes": {"shots": 16, "text_encoder": "minilm", "clip_model": "tiny",
                        "clip_pretrained": ""},
         "finetune": {"global_ctx": 16, "local_ctx": 4, "freeze_backbone": True},
         "boosting": {"select_frac": 0.77}}
    got = fidelity.differences(s)
    assert got == ["prototype shots per subcategory 16 (paper: 256)",
                   "textual prototypes' encoder minilm (paper: clip)",
                   "local prompt tokens 4 (paper: 8)",
                   "CLIP backbone frozen yes (paper: no)",
                   "backbone `tiny` pre-trained here on the train split (paper: pre-trained CLIP)"]
    note = fidelity.caption_note(s, "ci")
    assert note.startswith("Profile `ci` differs from Paper A's setting") and "minilm" in note


def test_default_profile_names_its_cpu_shortcuts():
    diff = " ".join(fidelity.differences(_sections("default")))
    assert "minilm" in diff and "pre-trained here" in diff


def test_settings_reads_only_the_compared_knobs_and_the_stage_wins():
    s = fidelity.settings("ci", finetune={"global_ctx": 99})
    assert s["finetune"]["global_ctx"] == 99                       # the notebook's resolved value
    assert s["prototypes"]["shots"] == _sections("ci")["prototypes"]["shots"]
    assert set(s["prototypes"]) == {"shots", "text_encoder", "clip_pretrained", "clip_model"}
