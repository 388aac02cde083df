"""Every caption and figure title names its data from the data source, never typed: the
matrix of sources (simulated, real SMPD, a simulated folder read as official SMPD files,
real SMP-Video) against every caption function of the package."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import matplotlib
import numpy as np
import pandas as pd
import pytest

matplotlib.use("Agg")

from smpp_utils.analysis import head_to_head, jrpp_figures, tail  # noqa: E402
from smpp_utils.core import paths  # noqa: E402
from smpp_utils.core.io import read_parquet_meta, write_json, write_parquet  # noqa: E402
from smpp_utils.data import prepare, provenance  # noqa: E402
from smpp_utils.jrpp import report as jrpp_report  # noqa: E402
from smpp_utils.paper_a import ablations  # noqa: E402
from smpp_utils.paper_a.boosting import tables as boosting_tables  # noqa: E402

# profile -> (posts.parquet metadata, sim_config.json stamp in data/<profile>/raw or None,
#             expected label, simulated?)
SOURCES = {
    "ci": ({"source": "sim"}, {"config": {"regime": "trend-driven"}},
           "SMPD-Sim (simulated, regime trend-driven)", True),
    "default": ({"source": "smpd"}, None, "SMPD (real)", False),
    "paper": ({"source": "smpd", "simulated": {"generator": "smpp_utils.data.sim", "regime": "smpd",
                                              "stamp": "sim_config.json", "latent": "sim_latent.csv"}},
              None, "SMPD-Sim (simulated, regime smpd)", True),
    "smp_video": ({"source": "smp_video"}, None, "SMP-Video (real)", False),
}
NOTE = "not comparable with numbers reported on real data"


@pytest.fixture
def world(tmp_path, monkeypatch):
    """A project root with one canonical table per source (profile names as keys of SOURCES)."""
    monkeypatch.setattr(paths, "ROOT", tmp_path)
    monkeypatch.setitem(paths.REPORTS, "smp_video", "reports/smp_video")
    for profile, (meta, stamp, _, _) in SOURCES.items():
        d = paths.data_dir(profile)
        write_parquet(pd.DataFrame({"Pid": [1, 2]}), d / "posts.parquet", {"fingerprint": "f", **meta})
        if stamp:
            write_json(d / "raw" / provenance.SIM_STAMP, stamp)
    return tmp_path


def _check(text: str, profile: str) -> None:
    _, _, label, sim = SOURCES[profile]
    assert label in text, (profile, text)
    assert (NOTE in text) == sim, (profile, text)
    assert ("simulated" in text) == sim, (profile, text)
    if not sim:
        assert "SMPD-Sim" not in text, (profile, text)
    if profile == "smp_video":
        assert "SMPD (real)" not in text


PROFILES = list(SOURCES)


# ----------------------------------------------------------------------------- labels
@pytest.mark.parametrize("profile", PROFILES)
def test_dataset_label_and_data_source(world, profile):
    _, _, label, sim = SOURCES[profile]
    assert prepare.dataset_label(profile) == label
    assert prepare.data_source(profile) == ("sim" if sim else SOURCES[profile][0]["source"])
    assert provenance.is_simulated(label) == sim


def test_unknown_source_is_an_error_naming_the_table(world):
    d = paths.data_dir("default")
    write_parquet(pd.DataFrame({"Pid": [1]}), d / "posts.parquet", {"source": "flickr"})
    with pytest.raises(ValueError, match=r"posts\.parquet: unknown data source 'flickr'"):
        prepare.dataset_label("default")


def test_bare_source_labels():
    assert provenance.label_of("sim") == "SMPD-Sim (simulated)"
    assert provenance.label_of("sim", "cold-start") == "SMPD-Sim (simulated, regime cold-start)"
    assert provenance.label_of("smpd") == "SMPD (real)"
    assert provenance.label_of("smp_video") == "SMP-Video (real)"
    with pytest.raises(ValueError, match="unknown data source 'x'"):
        provenance.label_of("x")


def test_broken_stamp_never_passes_for_real_data(tmp_path):
    (tmp_path / provenance.SIM_STAMP).write_text("{not json")
    with pytest.raises(ValueError, match="sim_config.json: not the simulator's JSON stamp"):
        provenance.simulated_folder(tmp_path)
    assert provenance.simulated_folder(tmp_path / "nothing") is None


# ----------------------------------------------------------------------------- the data stage
@pytest.fixture(scope="module")
def sim_folder(tmp_path_factory) -> Path:
    from smpp_utils.data.sim import regime_config, simulate

    out = tmp_path_factory.mktemp("simfolder") / "smpd_e2e"
    simulate(out, regime_config("cold-start", posts=60, users=12, image_size=8, test_ratio=0.2, seed=5,
                                workers=1))
    return out


def _cfg(root, profile="paper"):
    return SimpleNamespace(profile=profile, source="smpd", smpd_root=str(root), lenient=False,
                           val_frac=0.1, test_frac=0.1, seed=1)


def test_simulated_folder_read_as_official_files_is_recorded_as_simulated(tmp_path, monkeypatch, sim_folder):
    monkeypatch.setattr(paths, "ROOT", tmp_path)
    prepare.prepare(_cfg(sim_folder))
    meta = read_parquet_meta(paths.data_dir("paper") / "posts.parquet")
    assert meta["source"] == "smpd"
    assert meta["simulated"] == {"generator": "smpp_utils.data.sim", "regime": "cold-start",
                                 "stamp": "sim_config.json", "latent": "sim_latent.csv"}
    assert prepare.dataset_label("paper") == "SMPD-Sim (simulated, regime cold-start)"
    assert prepare.data_source("paper") == "sim"


def test_real_folder_has_no_simulated_record(tmp_path, monkeypatch):
    from tests.smpd_fixture import write_smpd_fixture

    monkeypatch.setattr(paths, "ROOT", tmp_path)
    root = write_smpd_fixture(tmp_path / "SMPD", n=20)
    prepare.prepare(_cfg(root))
    assert "simulated" not in read_parquet_meta(paths.data_dir("paper") / "posts.parquet")
    assert prepare.dataset_label("paper") == "SMPD (real)"


def test_oracle_of_a_simulated_folder_uses_the_folders_own_config(tmp_path, monkeypatch, sim_folder):
    from smpp_utils.data.sim import oracle_predictions
    from smpp_utils.data.sim.config import SimConfig

    monkeypatch.setattr(paths, "ROOT", tmp_path)
    stamp = json.loads((sim_folder / "sim_config.json").read_text())["config"]
    latent = pd.read_csv(sim_folder / "sim_latent.csv")
    got = prepare.oracle_series(_cfg(sim_folder))
    want = oracle_predictions(latent["latent_score"].to_numpy(), SimConfig(**stamp))
    assert np.allclose(got.to_numpy(), want)


def test_oracle_of_a_simulated_folder_is_reported_though_the_data_stage_wrote_none(tmp_path, monkeypatch,
                                                                                  sim_folder):
    from smpp_utils.core import config
    from smpp_utils.data.report import oracle_on_split

    monkeypatch.setattr(paths, "ROOT", tmp_path)
    cfg = _cfg(sim_folder)
    monkeypatch.setattr(config, "stage", lambda name, profile=None, **kw: cfg)
    prepare.prepare(cfg)
    fp = read_parquet_meta(paths.data_dir("paper") / "posts.parquet")["fingerprint"]
    write_json(paths.metrics_dir("paper") / "data.json", {"data_fingerprint": fp, "source": "smpd", "oracle": None})
    got = prepare.read_oracle("paper")
    want = oracle_on_split(prepare.load_posts("paper", "random")[0], prepare.oracle_series(cfg), "test")
    assert got == pytest.approx(want) and 0 < got["src"] < 1
    write_parquet(pd.DataFrame({"Pid": [1]}), paths.data_dir("paper") / "posts.parquet",
                  {"fingerprint": fp, "source": "smpd"})          # real SMPD: no ceiling
    assert prepare.read_oracle("paper") is None


# ----------------------------------------------------------------------------- captions
@pytest.mark.parametrize("profile", PROFILES)
def test_table2_caption(world, profile):
    label = prepare.dataset_label(profile)
    _check(jrpp_report.caption_for(prepare.data_source(profile), 3, label), profile)
    out = jrpp_report.write_table2({"JRPP": [{"mse": 1.0, "mae": 0.5, "src": 0.7}]},
                                   paths.tables_dir(profile), prepare.data_source(profile), 1, dataset=label)
    _check(out["md"].read_text().split("\n\n")[0], profile)


@pytest.mark.parametrize("profile", PROFILES)
def test_table2_caption_from_the_source_alone_never_says_real_for_simulated_data(world, profile):
    text = jrpp_report.caption_for(prepare.data_source(profile), 3)
    assert (NOTE in text) == SOURCES[profile][3]
    assert "real data (SMPD-Sim)" not in text


@pytest.mark.parametrize("profile", PROFILES)
def test_beta_table_caption(world, profile):
    out = jrpp_report.write_beta_table([{"beta": 0.1, "mse": 1.0, "mae": 0.5, "src": 0.7, "val_mse": 1.0}],
                                       paths.tables_dir(profile), prepare.data_source(profile),
                                       dataset=prepare.dataset_label(profile))
    _check(out["md"].read_text().split("\n\n")[0], profile)


@pytest.mark.parametrize("profile", PROFILES)
def test_paper_a_table_caption_names_the_data_and_the_oracle_only_when_present(world, profile):
    source = SOURCES[profile][0]["source"]          # notebook 05 passes the raw metadata source
    text = boosting_tables.table_caption(source, profile, 150, [1], None, 7, 9)
    _check(text, profile)
    assert "oracle row" not in text                 # no data.json with an oracle here
    assert "Real SMPD" not in text
    with_oracle = boosting_tables.table_caption(source, profile, 150, [1], None, 7, 9, oracle=True)
    assert "The oracle row is the simulator's noise-free score" in with_oracle
    if SOURCES[profile][3] or profile == "smp_video":
        assert "NOT comparable" in text             # the paper's SMPD number is in its own column


def test_paper_a_table_caption_mentions_the_oracle_recorded_by_the_data_stage(world):
    write_json(paths.metrics_dir("ci") / "data.json",
               {"data_fingerprint": "f", "oracle": {"mse": 1.0, "mae": 0.8, "src": 0.9}})
    assert "oracle row" in boosting_tables.table_caption("sim", "ci", 150, [1], None, 7, 9)


@pytest.mark.parametrize("profile", PROFILES)
def test_paper_a_ablation_captions(world, profile):
    label, sim = prepare.dataset_label(profile), prepare.data_source(profile) == "sim"
    _check(ablations.ablation_caption(label, sim, ["LightGBM"], 150, [1], 7, 9, 0.77, "minilm:text", None),
           profile)
    _check(ablations.tail_caption(label, sim, 12.0, [1]), profile)
    _check(ablations.category_caption(label, sim, [1]), profile)


@pytest.mark.parametrize("profile", PROFILES)
def test_jrpp_figure_captions_and_titles(world, profile):
    label, sim = prepare.dataset_label(profile), prepare.data_source(profile) == "sim"
    _check(jrpp_figures.fig4_caption(label, sim, 3), profile)
    rows = [{"k": k, "seed_index": i, "source": "trained", "mse": 1.0 + i, "mae": 0.5, "src": 0.6 + 0.01 * k}
            for k in (10, 20) for i in range(2)]
    summary = jrpp_figures.write_sweep(rows, "k", "k", label, 2, profile if profile in paths.REPORTS else "ci",
                                       "fig5_k", "fig5_k")
    assert len(summary) == 2
    caption = (paths.tables_dir(profile) / "fig5_k.md").read_text().split("\n\n")[0]
    _check(caption, profile)
    fig = jrpp_figures.plot_sweep(pd.DataFrame(rows), "k", "k", label)
    assert label in fig._suptitle.get_text()


@pytest.mark.parametrize("profile", PROFILES)
def test_head_to_head_caption(world, profile):
    _check(head_to_head.caption(prepare.dataset_label(profile), 150, 100, 0.05, 5, "MFTM"), profile)


@pytest.mark.parametrize("profile", PROFILES)
def test_tail_caption_and_decile_figure_title(world, profile):
    label = prepare.dataset_label(profile)
    _check(tail.table3_caption(label), profile)
    labels = pd.Series(np.arange(20, dtype=float), index=np.arange(20))
    preds = pd.DataFrame({"model": "m", "seed": 0, "Pid": labels.index, "y_pred": 9.5})
    preds.attrs["dataset"] = label                   # as collect_test_predictions sets it
    dec = tail.error_by_decile(preds, labels, n_bins=2)
    fig = tail.plot_error_by_decile(dec, ["m"])
    assert label in fig._suptitle.get_text()
