"""params.yaml: base + profile deltas resolved by YAML, the active-profile alias, and the
knob validation that refuses nonsense (naming profile.section.key) before any stage runs."""

import re
import subprocess

import pytest
import yaml

from smpp_utils import baselines
from smpp_utils.core import config, knobs, paths
from smpp_utils.jrpp import ablation

TEXT = (paths.ROOT / "params.yaml").read_text()


def _load(tmp_path, text):
    p = tmp_path / "params.yaml"
    p.write_text(text)
    return config.load_params(p)


def _with(old, new, text=TEXT):
    """params.yaml with the one line matching regex ``old`` replaced by ``new``."""
    out, n = re.subn(old, new, text, count=1, flags=re.M)
    assert n == 1, old
    return out


def _refused(tmp_path, text, *needles):
    with pytest.raises(knobs.KnobError) as exc:
        _load(tmp_path, text)
    msg = str(exc.value)
    assert str(tmp_path / "params.yaml") in msg
    for needle in needles:
        assert needle in msg, msg
    return msg


# ----------------------------------------------------------------------------- structure
def test_every_profile_has_the_same_knobs():
    params = config.load_params()
    keys = {p: {s: set(v) for s, v in params[p].items() if isinstance(v, dict)} for p in config.PROFILES}
    assert keys["ci"] == keys["default"] == keys["paper"]


def test_merged_values_are_base_plus_deltas():
    params = config.load_params()
    raw = yaml.safe_load(TEXT)
    assert params["default"]["jrpp"] == params["base"]["jrpp"]          # default = base
    ci = params["ci"]
    assert ci["data"]["sim_posts"] == 1200 and ci["data"]["val_frac"] == params["base"]["data"]["val_frac"]
    assert ci["jrpp"]["epochs"] == 3 and ci["jrpp"]["lr"] == params["base"]["jrpp"]["lr"]
    assert params["paper"]["data"]["source"] == "smpd" and params["paper"]["jrpp"]["epochs"] == 100
    assert raw["profile"] == raw["default"]                              # the alias resolves
    assert [params[p]["reports"] for p in config.PROFILES] == ["reports/ci", "reports", "reports/paper",
                                                               "reports/rehearsal", "reports/smp_video"]
    # loading returns independent copies: editing one profile does not leak into another
    params["ci"]["tail"]["tail_threshold"] = -1.0
    assert params["default"]["tail"]["tail_threshold"] != -1.0


def test_each_knob_is_declared_once_in_base():
    base_lines = TEXT[TEXT.index("base:"):TEXT.index("\nci:")]
    for sec, cls in knobs.SECTIONS.items():
        for f in knobs.dataclasses.fields(cls):
            assert len(re.findall(rf"^\s+{f.name}:", base_lines, flags=re.M)) >= 1, (sec, f.name)


def test_registry_backed_knobs_take_their_values_from_the_registries():
    from smpp_utils.pipeline.registries import registries

    reg = registries()
    assert set(reg) == set(knobs.REGISTRIES)
    assert reg["baselines"] == tuple(baselines.BASELINES)
    assert reg["ablation_variants"] == ablation.TRAINED_VARIANTS
    params = config.load_params()
    knobs.validate(params, registries=reg)
    params["ci"]["jrpp"]["baselines"] = "SVR,MFTMM"
    with pytest.raises(knobs.KnobError, match="ci.jrpp.baselines: 'MFTMM' is not one of .*did you mean 'MFTM'"):
        knobs.validate(params, registries=reg)
    knobs.validate(params)          # without the registries: type checks only
    assert knobs.registry_problems(params, reg) == [
        "ci.jrpp.baselines: 'MFTMM' is not one of SVR, HyFea, MFTM, CLSTM, HMMVED, DLBA, MASSL, "
        "BLIP, CBAN, NIPA, MMRA, SKAPP; did you mean 'MFTM'?"]


def test_the_shipped_file_passes():
    params = config.load_params()
    assert params["profile"]["name"] in config.PROFILES


# ----------------------------------------------------------------------------- profile choice
def test_alias_line_switches_the_profile(tmp_path, monkeypatch):
    monkeypatch.delenv("SMPP_PROFILE", raising=False)
    params = _load(tmp_path, _with(r"^profile: \*default$", "profile: *ci"))
    assert params["profile"]["name"] == "ci" and params["profile"]["data"]["sim_posts"] == 1200
    assert config.active_profile(params=params) == "ci"


def test_alias_before_its_anchor_is_refused(tmp_path):
    text = "profile: *default\n" + _with(r"^profile: \*default$", "")
    with pytest.raises(knobs.KnobError, match="not valid YAML"):
        _load(tmp_path, text)


def test_profile_must_be_an_alias_not_a_name(tmp_path):
    _refused(tmp_path, _with(r"^profile: \*default$", "profile: default"), "profile: must be an alias")


def test_smpp_profile_overrides_and_explicit_wins(monkeypatch):
    monkeypatch.setenv("SMPP_PROFILE", "paper")
    assert config.active_profile() == "paper"
    assert config.active_profile("ci") == "ci"
    monkeypatch.delenv("SMPP_PROFILE")
    assert config.active_profile() == config.load_params()["profile"]["name"]


def test_unknown_profile_is_an_error():
    with pytest.raises(ValueError, match="unknown profile"):
        config.active_profile("big")


def test_profile_block():
    blk = config.profile_block("ci")
    assert (blk["name"], blk["reports"], blk["seed"]) == ("ci", "reports/ci", 7)
    assert blk["sections"]["data"]["sim_posts"] == 1200 and set(blk["sections"]) == set(knobs.SECTIONS)


# ----------------------------------------------------------------------------- stage()
def test_stage_fills_none_from_params_and_keeps_given(monkeypatch):
    monkeypatch.setenv("SMPP_PROFILE", "ci")
    cfg = config.stage("data", sim_posts=None, val_frac=0.2)
    assert cfg.profile == "ci"
    assert cfg.sim_posts == config.load_params()["ci"]["data"]["sim_posts"]
    assert cfg.val_frac == 0.2
    assert cfg.seed == config.load_params()["ci"]["seed"]


def test_stage_rejects_unknown_knob():
    with pytest.raises(KeyError, match="not in params.yaml"):
        config.stage("data", profile="ci", sim_postz=5)


def test_stage_validates_given_values():
    with pytest.raises(knobs.KnobError, match=r"ci\.jrpp\.epochs: must be >= 1, got -1"):
        config.stage("jrpp", profile="ci", epochs=-1)


# ----------------------------------------------------------------------------- refusals
# Each edits one line of the shipped file (a delta or a base line) and expects the message.
def test_negative_epochs_refused(tmp_path):
    _refused(tmp_path, _with(r"epochs: 3, patience: 10", "epochs: -1, patience: 10"),
             "ci.jrpp.epochs: must be >= 1, got -1")
    _refused(tmp_path, _with(r"^(\s+)epochs: 4(\s)", r"\1epochs: -1\2"),
             "default.finetune.epochs: must be >= 1, got -1", "paper.finetune.epochs")


def test_non_numeric_lr_refused(tmp_path):
    _refused(tmp_path, _with(r"^(\s+)lr: 0\.001(\s)", r'\1lr: "abc"\2'),
             "default.jrpp.lr: expected a number, got 'abc'")


def test_misspelled_key_refused_with_suggestion(tmp_path):
    _refused(tmp_path, _with(r"epochs: 3, patience: 10", "epochz: 3, patience: 10"),
             "ci.jrpp.epochz: unknown knob; did you mean 'epochs'?")


def test_fraction_out_of_range_refused(tmp_path):
    _refused(tmp_path, _with(r"^(\s+)val_frac: 0\.1(\s)", r"\1val_frac: 1.5\2"),
             "default.data.val_frac: must be < 1.0, got 1.5")
    _refused(tmp_path, _with(r"^(\s+)val_frac: 0\.1(\s)", r"\1val_frac: 0.95\2"),
             "default.data.val_frac + default.data.test_frac: must be < 1")


def test_missing_key_refused(tmp_path):
    _refused(tmp_path, _with(r"^\s+tail_threshold: .*$", ""), "ci.tail.tail_threshold: missing",
             "default.tail.tail_threshold: missing")


def test_bool_is_not_an_int(tmp_path):
    _refused(tmp_path, _with(r"n_seeds: 1}", "n_seeds: true}"), "ci.jrpp.n_seeds: expected an integer, got True")


def test_bad_choice_refused(tmp_path):
    _refused(tmp_path, _with(r"^(\s+)source: sim(\s)", r"\1source: simm\2"),
             "default.data.source: must be one of sim | smpd | smp_video, got 'simm'; did you mean 'sim'?")
    _refused(tmp_path, _with(r"^(\s+)text_encoder: minilm", r"\1text_encoder: bert"),
             "default.prototypes.text_encoder: must be one of minilm | clip")
    _refused(tmp_path, _with(r'^(\s+)image_emb: "clip:image"', r'\1image_emb: "clip"'),
             "default.jrpp.image_emb: must look like 'file:array'")
    _refused(tmp_path, _with(r"smpd_root: /path/to/SMPD", 'smpd_root: ""'),
             "paper.data.smpd_root: required when source: smpd")


def test_bad_lists_refused(tmp_path):
    _refused(tmp_path, _with(r'^(\s+)tta_scales: "0\.1,0\.2,0\.3"', r'\1tta_scales: "0.01,-1,x"'),
             "default.jrpp.tta_scales: item '-1' of '0.01,-1,x': must be > 0.0",
             "default.jrpp.tta_scales: item 'x' of '0.01,-1,x' is not a number")
    _refused(tmp_path, _with(r'tta_T_values: "0,1,4"', 'tta_T_values: "0,1.5,-2"'),
             "ci.ablations.tta_T_values: item '1.5'", "item '-2' of '0,1.5,-2': must be >= 0")
    _refused(tmp_path, _with(r'k_values: "5,10"', 'k_values: "5,0"'),
             "ci.ablations.k_values: item '0' of '5,0': must be >= 1")
    _refused(tmp_path, _with(r'^(\s+)top_fracs: "0\.2,0\.1"', r'\1top_fracs: "0.2,1.5"'),
             "default.tail.top_fracs: item '1.5' of '0.2,1.5': must be < 1.0")


def test_all_problems_listed_one_per_line(tmp_path):
    text = _with(r"epochs: 3, patience: 10", "epochs: -1, patience: 10")
    text = _with(r"^(\s+)lr: 0\.001(\s)", r'\1lr: "abc"\2', text)
    msg = _refused(tmp_path, text, "ci.jrpp.epochs", "default.jrpp.lr")
    assert len([ln for ln in msg.splitlines() if ln.startswith("  ")]) >= 3   # ci/default/paper lr too



def test_params_yaml_comments_are_the_knobs_declarations():
    """A knob is declared once (type, range, comment) in core/knobs.py; params.yaml's base
    comments are copies (`python -m smpp_utils params-doc` writes them)."""
    from smpp_utils.pipeline import params_doc

    comments = params_doc.declared_comments()
    fields = {(s, f.name) for s, cls in knobs.SECTIONS.items() for f in knobs.dataclasses.fields(cls)}
    assert set(comments) == fields, "every knob field needs a comment on its line in core/knobs.py"
    _, changed = params_doc.synced(TEXT, comments)
    assert not changed, f"params.yaml comments differ from core/knobs.py: {changed}; run `python -m smpp_utils params-doc`"
    edited = TEXT.replace("# learnable global prompt context tokens", "# something else", 1)
    assert params_doc.synced(edited, comments)[1] == ["finetune.global_ctx"]
