"""The results page shows every report output the stages declare in dvc.yaml, under the
notebook that makes it; the HTML copy is self-contained; summary.json holds the headline
numbers only."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from smpp_utils.pipeline import results_page as R
from smpp_utils.core import paths
from smpp_utils.core.io import write_json
from smpp_utils.pipeline import stages as registry

REPO = Path(__file__).resolve().parents[1]
PNG = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000"
                    "1f15c4890000000d49444154789c6360f8ffff3f0005fe02fea7d6a4ad0000000049454e44ae426082")


def _stages():
    return [s.name for s in registry.applicable("sim") if s.notebook]


def declared_report_outs(stage, profile):
    return registry.stage(stage).report_files()


@pytest.fixture
def world(tmp_path, monkeypatch):
    """A root with the real dvc.yaml and every declared report output of profile ci written."""
    monkeypatch.setattr(paths, "ROOT", tmp_path)
    shutil.copy(REPO / "dvc.yaml", tmp_path / "dvc.yaml")
    shutil.copy(REPO / "params.yaml", tmp_path / "params.yaml")
    rep = paths.final_reports_dir("ci")
    for stage in _stages():                  # the executed notebooks (DVC outputs) too
        nb = rep / "notebooks" / f"{registry.stage(stage).notebook}.ipynb"
        nb.parent.mkdir(parents=True, exist_ok=True)
        nb.write_text("{}")
        for rel in declared_report_outs(stage, "ci"):
            f = rep / rel
            f.parent.mkdir(parents=True, exist_ok=True)
            if f.suffix == ".md":
                f.write_text(f"Caption of {rel}.\n\n| a |\n|---|\n| 1 |\n")
            elif f.suffix == ".png":
                f.write_bytes(PNG)
            elif f.suffix == ".json":
                f.write_text("{}\n")
            else:
                f.write_text("x\n")
    return rep


def _sections(page: str) -> dict[str, str]:
    """'## <title>' -> the text up to the next '## '."""
    parts = re.split(r"^## ", page, flags=re.M)
    return {p.splitlines()[0]: p for p in parts[1:]}


def test_every_declared_output_is_on_the_page_under_its_notebook(world):
    page = R.render("ci")
    sections = _sections(page)
    assert not any(t.startswith("Other outputs") for t in sections)
    for stage in _stages():
        nb = R.NOTEBOOKS[stage][0]
        title = next(t for t in sections if t.startswith(f"{nb} - "))
        text = sections[title]
        for rel in declared_report_outs(stage, "ci"):
            if rel.endswith(".md"):
                assert f"Caption of {rel}." in text, (stage, rel)
            elif rel.startswith("timings/"):
                assert f"`{rel}`" in text, (stage, rel)
            elif rel.startswith("notebooks/"):
                assert f"`{rel}`" in text and "executed copy: run `make repro`" in text, (stage, rel)
            else:
                assert f"({rel})" in text, (stage, rel)


def test_known_placements(world):
    sections = _sections(R.render("ci"))
    data = next(v for t, v in sections.items() if t.startswith("01_data"))
    assert "tables/data_calibration.md" in data and "(figures/fig_label_acf.png)" in data
    h2h = next(v for t, v in sections.items() if t.startswith("08_head_to_head"))
    assert "(figures/fig_head_to_head.png)" in h2h and "(tables/head_to_head_tests.csv)" in h2h
    order = [t[:2] for t in sections if t[:2].isdigit()]
    assert order == sorted(order)                           # notebooks in order, 08 before 10


def test_missing_output_is_named_and_undeclared_file_is_labelled(world):
    (world / "tables" / "table3_tail.md").unlink()
    (world / "figures" / "zz_stray.png").write_bytes(PNG)
    page = R.render("ci")
    assert "`tables/table3_tail.md` - not written yet (run `make repro`)" in page
    other = _sections(page)["Other outputs (no stage declares them in dvc.yaml)"]
    assert "(figures/zz_stray.png)" in other and "table3_tail" not in other


def test_pdf_beside_a_declared_png_stays_with_it(world):
    (world / "figures" / "fig3_distributions.pdf").write_bytes(b"%PDF")
    sections = _sections(R.render("ci"))
    assert "[pdf](figures/fig3_distributions.pdf)" in next(v for t, v in sections.items() if t.startswith("01_data"))
    assert not any(t.startswith("Other") for t in sections)


def test_notebook_links_only_where_the_copy_exists(world):
    assert "](notebooks/" not in R.render("ci")                 # the committed page: never a link
    (world / "notebooks" / "02_prototypes.ipynb").unlink()     # the fixture wrote every declared out
    html_md = R.render("ci", link_notebooks=True)
    assert "([executed copy](notebooks/01_data.ipynb))" in html_md
    assert "](notebooks/02_prototypes.ipynb)" not in html_md


def test_html_is_self_contained_and_byte_stable(world):
    R.write("ci")
    html = (world / "index.html").read_text()
    assert html == R.to_html(R.render("ci", link_notebooks=True), world, "smpp results (ci)")
    srcs = re.findall(r'<img src="([^"]+)"', html)
    assert srcs and all(s.startswith("data:image/png;base64,") for s in srcs)
    assert not re.search(r'(src|href)="https?://', html) and "<script" not in html
    assert "<table>" in html and (world / "index.md").read_text() == R.render("ci")


def test_controls_and_real_data_blocks_appear_when_their_files_exist(world):
    page = R.render("ci")
    assert "## Controls" not in page and "## Real data" not in page
    (world / "tables" / "controls.md").write_text("Controls caption.\n\n| a |\n|---|\n| 1 |\n")
    video = paths.ROOT / "reports" / "smp_video" / "tables"
    video.mkdir(parents=True)
    (video / "table2_main.md").write_text("Table 2 on SMP-Video (real).\n")
    page = R.render("ci")
    sections = _sections(page)
    assert "Controls caption." in sections["Controls - can each claim be tested here?"]
    assert "Table 2 on SMP-Video (real)." in sections["Real data: SMP-Video (real)"]
    assert "[Controls](#controls)" in page and "(#real-smp_video)" in page


def test_summary_holds_the_headline_numbers_only(world):
    m = world / "metrics"
    write_json(m / "boosting.json", {"results": {"clipft": {"LightGBM": {"src_mean": 0.77761}}}})
    write_json(m / "jrpp.json", {"jrpp": {"src_mean": 0.70, "tta": {"src_mean": 0.69981}}})
    write_json(m / "data.json", {"oracle": {"src": 0.9}})
    write_json(m / "head_to_head.json", {
        "best_baseline": "MFTM", "dataset": "SMPD-Sim (simulated, regime smpd)",
        "models": {"MFTM": {"src_mean": 0.781653}},
        "tests": [{"claim": "Paper A (LightGBM) beats JRPP", "metric": "mae", "improvement": 9, "p_value": 9},
                  {"claim": "Paper A (LightGBM) beats JRPP", "metric": "src", "improvement": 0.07776,
                   "p_value": 0.0005}]})
    assert R.headline("ci") == {"paperA_src": 0.7776, "jrpp_src": 0.6998, "baseline_src": 0.7817,
                                "oracle_src": 0.9, "h2h_delta_src": 0.0778, "h2h_p": 0.0005}
    write_json(m / "data.json", {"oracle": None})           # real data: no oracle, no key
    assert "oracle_src" not in R.headline("ci")
    (m / "table2_main_paper_reported.csv").unlink(missing_ok=True)
    (world / "tables" / "table2_main_paper_reported.csv").write_text("Model,SMPD SRC\nMFTM,0.5849\nJRPP,0.8697\n")
    page = R.render("ci")
    assert page.startswith("# Results: `ci` profile - SMPD-Sim (simulated, regime smpd)")
    assert "| 0.6998 | 0.8697 |" in page and "(MFTM) | 0.7817 | 0.5849 |" in page
    assert "**not comparable**" in page


def test_written_summary_is_what_dvc_metrics_shows(world):
    R.write("ci")
    assert json.loads((world / "metrics" / "summary.json").read_text()) == R.headline("ci")


def test_a_profile_without_images_lists_the_papers_stages_as_not_run(world, monkeypatch):
    monkeypatch.setattr(R, "_source", lambda profile: "smp_video")
    page = R.render("ci")
    section = _sections(page)["Not run on these data"]
    assert "| 03_prompt_finetune |" in section and "n/a: needs" in section and "images" in section
    assert "| 09_regimes |" in section and "simulator" in section
    assert "## 12_smp_video" in page or "smp_video" in page
