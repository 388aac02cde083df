"""The results page: every output of every stage of a profile, grouped by the notebook that
makes it, each with the paper table/figure it mirrors, written by the last DVC stage
(``results``) as

* ``<reports>/index.md`` - markdown (committed for ``default``; renders on GitHub);
* ``<reports>/index.html`` - the same page as one self-contained HTML file: figures embedded
  as data URIs, no script, no font or style sheet from the network (opens offline);
* ``<reports>/metrics/summary.json`` - the handful of headline numbers ``dvc metrics show``
  prints (the per-stage metrics JSON keep the details).

What is shown comes from the stage registry (``pipeline.stages``, which dvc.yaml is generated
from): each stage's declared report outputs with what they mirror, in notebook order, so a new
output or a new stage appears without editing this module; a declared file not written yet
says so. Two blocks appear only when their files exist: the positive / negative controls
(``tables/controls*``, ``figures/controls*``) and the real-data results of SMP-Video
(``reports/smp_video/``).

The papers' reported numbers come from the tables the stages write from the report modules'
quoted constants (``table2_main_paper_reported.csv``, the paper column of ``paperA_main.csv``),
so this stage reads only earlier stages' files and imports no model code.

Executed notebooks are DVC outputs, not in git: the markdown never links them (a clone would
have dead links), it names them; the HTML links a copy only when it exists.

Byte-stable: the page holds only file contents and names in a fixed order; no dates.
"""

from __future__ import annotations

import base64
import json
import os
import re
from pathlib import Path

from ..core import paths
from ..core.io import write_json, write_text
from . import stages

# stage -> (notebook, what it is about, the paper tables/figures it mirrors) and artefact stem
# -> (stage, what it mirrors): both from the stage registry, the one list of stages and reports
def _notebooks() -> dict[str, tuple[str, str, str]]:
    out = {}
    for st in stages.STAGES:
        if st.notebook:
            mirrored = list(dict.fromkeys(r.mirrors for r in st.reports
                                          if r.mirrors and "(ours)" not in r.mirrors))
            out[st.name] = (st.notebook, st.title, "; ".join(mirrored) or "beyond both papers")
    return out


NOTEBOOKS = _notebooks()
CATALOGUE = stages.mirrors()

CONTROLS_PREFIX = "controls"            # tables/controls*.md, figures/controls*.png
REAL_DATA = {"smp_video": "SMP-Video (real)"}   # reports/<folder> -> its dataset label
SHOWN_DIRS = ("tables", "figures", "metrics")

# metrics/summary.json: key -> what it is (the page's headline table lists them in this order)
SUMMARY = {
    "paperA_src": "Paper A: CLIPFT + metadata, LightGBM on the loss-selected rows, test SRC",
    "jrpp_src": "JRPP as in Table 2 (with test-time perturbation when on), test SRC",
    "baseline_src": "best baseline (chosen on validation SRC, head-to-head), test SRC",
    "oracle_src": "oracle ceiling of the simulator (noise-free score), test SRC",
    "h2h_delta_src": "head-to-head: Paper A (LightGBM) minus JRPP, test SRC",
    "h2h_p": "paired bootstrap p of 'Paper A (LightGBM) beats JRPP' (one-sided)",
}
H2H_CLAIM = "Paper A (LightGBM) beats JRPP"


# ----------------------------------------------------------------------------- what to show
def stage_outputs(profile: str) -> dict[str, list[str]]:
    """stage -> the report files it declares (stage registry; relative to the reports folder),
    for the stages the profile's data source runs, in notebook order."""
    out = {st.name: st.report_files() for st in stages.applicable(_source(profile))
           if st.notebook}
    return {s: out[s] for s in sorted(out, key=_notebook_order) if out[s]}


def _source(profile: str) -> str:
    from ..core import config

    return config.knob("data.source", profile)


def _notebook_order(stage: str) -> tuple:
    """Sections in notebook order (01 ... 10), stages without a notebook after them."""
    nb = NOTEBOOKS.get(stage, ("",))[0]
    return (0, nb) if nb[:2].isdigit() else (1, stage)


def _entries(rels: list[str]) -> dict[str, list[str]]:
    """stem -> its files, in the order of first appearance (metrics/timings/notebooks apart)."""
    out: dict[str, list[str]] = {}
    for rel in rels:
        if rel.split("/")[0] in ("tables", "figures"):
            out.setdefault(Path(rel).stem, []).append(rel)
    return out


def _is_control(stem: str) -> bool:
    return stem.startswith(CONTROLS_PREFIX)


# ----------------------------------------------------------------------------- markdown
def _missing(rel: str) -> str:
    return f"`{rel}` - not written yet (run `make repro`)"


def siblings(stem: str, reports: Path) -> list[str]:
    """Files of ``stem`` on disk in tables/ and figures/ (e.g. the PDF every figure gets)."""
    return sorted(p.relative_to(reports).as_posix() for d in ("tables", "figures")
                  if (reports / d).is_dir() for p in (reports / d).glob(f"{stem}.*")
                  if p.is_file() and p.stem == stem)


def _entry(stem: str, files: list[str], reports: Path, mirrors: str | None) -> list[str]:
    """An artefact: its table (caption + table) and figure inline, its other files linked;
    declared files not written yet are named as such."""
    files = list(dict.fromkeys([*files, *siblings(stem, reports)]))
    lines = [f"### `{stem}`" + (f" - mirrors {mirrors}" if mirrors else ""), ""]
    table, figure = f"tables/{stem}.md", f"figures/{stem}.png"
    for rel in (table, figure):
        if rel not in files:
            continue
        if not (reports / rel).is_file():
            lines += [_missing(rel), ""]
        elif rel == table:
            lines += [(reports / rel).read_text().rstrip("\n"), ""]
        else:
            lines += [f"![{stem}]({rel})", ""]
    rest = [r for r in files if r not in (table, figure)]
    data = f"figures/{stem}.csv"
    links = [f"[{Path(r).suffix[1:]}]({r})" if (reports / r).is_file() else _missing(r)
             for r in rest if r != data]
    if links:
        lines += ["Files: " + ", ".join(links), ""]
    if data in rest:
        lines += [f"Numbers behind the figure: [{data}]({data})" if (reports / data).is_file()
                  else _missing(data), ""]
    return lines


def _notebook_line(stage: str, nb: str, reports: Path, link: bool) -> str:
    rel = f"notebooks/{nb}.ipynb"
    if link and (reports / rel).is_file():
        return f"Notebook: `notebooks/{nb}.ipynb` ([executed copy]({rel}))"
    return f"Notebook: `notebooks/{nb}.ipynb` (executed copy: run `make repro`; a DVC output, not in git)"


def _stage_section(stage: str, rels: list[str], reports: Path, link: bool) -> list[str]:
    nb, title, mirrors = NOTEBOOKS.get(stage, (stage, f"stage `{stage}`", None))
    out = [f'<a id="{stage}"></a>', "", f"## {nb} - {title}", ""]
    if mirrors:
        out += [f"Mirrors: {mirrors}. DVC stage `{stage}`.", ""]
    out += [_notebook_line(stage, nb, reports, link), ""]
    metrics = [r for r in rels if r.startswith("metrics/")]
    if metrics:
        out += ["Metrics: " + ", ".join(f"[{r}]({r})" if (reports / r).is_file() else _missing(r)
                                        for r in metrics), ""]
    timings = [r for r in rels if r.startswith("timings/")]
    if timings:
        out += ["Wall-clock: " + ", ".join(f"`{r}`" for r in timings) + " (git-ignored)", ""]
    for stem, files in _entries(rels).items():
        if _is_control(stem):
            out += [f"`{stem}`: see [Controls](#controls).", ""]
            continue
        out += _entry(stem, files, reports, CATALOGUE.get(stem, (None, None))[1])
    return out


NEEDS = {"images": "images", "categories": "the category taxonomy", "simulator": "the simulator as the data source"}


def _not_run_section(profile: str) -> list[str]:
    """The stages (and so the papers' rows) that cannot run on this profile's data, and why."""
    skipped = stages.not_applicable(_source(profile))
    if not skipped:
        return []
    out = ['<a id="not-run"></a>', "", "## Not run on these data", "",
           "| notebook | what | why |", "|:--|:--|:--|"]
    for st in skipped:
        why = " and ".join(NEEDS.get(n, n) for n in sorted(st.needs - stages.capabilities(_source(profile))))
        out.append(f"| {st.notebook} | {st.title} | n/a: needs {why} |")
    return out + [""]


def _controls_section(reports: Path) -> list[str]:
    stems = sorted({p.stem for d in ("tables", "figures") if (reports / d).is_dir()
                    for p in (reports / d).glob(f"{CONTROLS_PREFIX}*") if p.is_file()})
    if not stems:
        return []
    out = ['<a id="controls"></a>', "", "## Controls - can each claim be tested here?", "",
           "Positive controls (data where a mechanism must help, with a simple reference rule "
           "showing the signal is reachable) and negative controls (data where it has nothing to "
           "find). A claim without both cannot be tested on these data.", ""]
    for stem in stems:
        files = sorted(p.relative_to(reports).as_posix() for d in ("tables", "figures")
                       for p in (reports / d).glob(f"{stem}.*"))
        out += _entry(stem, files, reports, None)
    return out


def _real_data_sections(reports: Path) -> list[str]:
    out = []
    for folder, label in REAL_DATA.items():
        root = paths.ROOT / "reports" / folder
        if not root.is_dir() or root.resolve() == reports.resolve():
            continue
        mds = sorted(p for p in root.rglob("*.md") if p.name != "index.md")
        pngs = sorted(root.rglob("*.png"))
        if not mds and not pngs:
            continue
        rel = lambda p: Path(os.path.relpath(p, reports)).as_posix()  # noqa: E731
        out += [f'<a id="real-{folder}"></a>', "", f"## Real data: {label}", "",
                f"Results of the same code on {label}, from `reports/{folder}/` (committed; the "
                "data themselves are read in place and never copied).", ""]
        if (root / "index.md").is_file():
            out += [f"Its own page: [{rel(root / 'index.md')}]({rel(root / 'index.md')})", ""]
        for md in mds:
            out += [f"### `{md.relative_to(root).as_posix()}`", "", md.read_text().rstrip("\n"), ""]
        for png in pngs:
            out += [f"![{png.stem}]({rel(png)})", ""]
    return out


def _others(reports: Path, shown: set[str]) -> list[str]:
    bench = sorted(p.relative_to(reports).as_posix() for p in (reports / "metrics").glob("bench_*.json")) \
        if (reports / "metrics").is_dir() else []
    rest = sorted(p.relative_to(reports).as_posix() for d in SHOWN_DIRS if (reports / d).is_dir()
                  for p in (reports / d).iterdir() if p.is_file())
    rest = [r for r in rest if r not in shown and r not in bench and r != "metrics/summary.json"
            and not _is_control(Path(r).stem)]
    out = []
    if bench:
        out += ['<a id="benchmarks"></a>', "", "## Benchmarks (`benchmarks/*.py`, not DVC stages)", "",
                "Speed and memory measurements, run by hand; the README's Scale section reads them.", "",
                *[f"- [{r}]({r})" for r in bench], ""]
    if rest:
        out += ['<a id="other"></a>', "", "## Other outputs (no stage declares them in dvc.yaml)", "",
                "Files in this reports folder that no stage of the current dvc.yaml writes: left by "
                "an earlier version of the pipeline, or written by hand. Not regenerated.", ""]
        for stem, files in _entries(rest).items():
            out += _entry(stem, files, reports, CATALOGUE.get(stem, (None, None))[1])
        other = [r for r in rest if r.split("/")[0] not in ("tables", "figures")]
        out += [f"- [{r}]({r})" for r in other] + ([""] if other else [])
    return out


def dataset_of(profile: str) -> str | None:
    """The dataset label the stages recorded in their metrics (``data.prepare.dataset_label``
    at stage time: the page reads only the reports), else the canonical table's, else None."""
    for name in ("head_to_head", "paperA_ablations"):
        found = (_read(profile, name) or {}).get("dataset")
        if found:
            return found
    from ..data.prepare import dataset_label

    if (paths.data_dir(profile) / "posts.parquet").is_file():
        return dataset_label(profile)
    return None


def render(profile: str, link_notebooks: bool = False) -> str:
    """The page as markdown. ``link_notebooks``: link executed notebooks that exist (the HTML
    page); the markdown only names them (see the module docstring)."""
    from ..data.provenance import is_simulated

    reports = paths.final_reports_dir(profile)
    label = dataset_of(profile)
    per_stage = stage_outputs(profile)
    out = [f"# Results: `{profile}` profile" + (f" - {label}" if label else ""), ""]
    out += ["Every output the pipeline's stages declare for this profile, grouped by the notebook "
            "that makes it, each with the paper table or figure it mirrors (regenerated by `make "
            "repro`, stage `results`). Numbers quoted from the papers appear only in columns or "
            "blocks labelled as reported in the paper.", ""]
    if label and is_simulated(label):
        out += [f"**Simulated data.** Every number here was computed on {label}: read it against the "
                "simulator's oracle ceiling, not against the papers' numbers on real data.", ""]
    running = sorted((reports / ".running").glob("*.json")) if (reports / ".running").is_dir() else []
    if running:
        out += ["> **Stale:** stage(s) " + ", ".join(p.stem for p in running)
                + " did not finish their last run; their results below are from the run before.", ""]
    controls = _controls_section(reports)
    real = _real_data_sections(reports)
    toc = ["- [Headline numbers](#headline)"]
    if controls:
        toc.append("- [Controls](#controls)")
    for stage in per_stage:
        nb, title, _ = NOTEBOOKS.get(stage, (stage, f"stage `{stage}`", None))
        toc.append(f"- [{nb} - {title}](#{stage})")
    if stages.not_applicable(_source(profile)):
        toc.append("- [Not run on these data](#not-run)")
    toc += [f"- [Real data: {lab}](#real-{f})" for f, lab in REAL_DATA.items() if f'<a id="real-{f}"></a>' in real]
    out += ["Contents:", "", *toc, ""]
    out += headline_section(profile, label)
    out += controls
    shown = set()
    for stage, rels in per_stage.items():
        out += _stage_section(stage, rels, reports, link_notebooks)
        shown |= set(rels) | {r for stem in _entries(rels) for r in siblings(stem, reports)}
    out += _not_run_section(profile)
    out += real
    out += _others(reports, shown)
    return "\n".join(out).rstrip("\n") + "\n"


# ----------------------------------------------------------------------------- headline numbers
def _read(profile: str, name: str) -> dict | None:
    f = paths.final_reports_dir(profile) / "metrics" / f"{name}.json"
    return json.loads(f.read_text()) if f.is_file() else None


def _get(d, *keys):
    for k in keys:
        if not isinstance(d, dict) or k not in d:
            return None
        d = d[k]
    return d


def headline(profile: str) -> dict:
    """The handful of headline numbers (:data:`SUMMARY`) from the per-stage metrics JSON;
    a number whose stage has not run (or that the data have none of, e.g. the oracle on real
    data) is left out."""
    boosting, jrpp, data, h2h = (_read(profile, n) for n in ("boosting", "jrpp", "data", "head_to_head"))
    out = {"paperA_src": _get(boosting, "results", "clipft", "LightGBM", "src_mean"),
           "jrpp_src": _get(jrpp, "jrpp", "tta", "src_mean") or _get(jrpp, "jrpp", "src_mean"),
           "baseline_src": _get(h2h, "models", _get(h2h, "best_baseline") or "", "src_mean"),
           "oracle_src": _get(data, "oracle", "src") or next(   # a simulated folder: the stages' row
               (m.get("src_mean") for m in (_get(h2h, "models") or {}).values()
                if isinstance(m, dict) and m.get("family") == "oracle"), None)}
    test = next((t for t in (_get(h2h, "tests") or [])
                 if t.get("claim") == H2H_CLAIM and t.get("metric") == "src"), None)
    if test:
        out["h2h_delta_src"], out["h2h_p"] = test["improvement"], test["p_value"]
    return {k: round(float(v), 4) for k, v in out.items() if v is not None}


def reported_numbers(profile: str) -> dict[str, float]:
    """The papers' SRC on real SMPD for the headline rows, from the tables the stages wrote
    from the report modules' quoted constants (``jrpp.report.PAPER_TABLE2``,
    ``paper_a.boosting.PAPER_A_REPORTED``)."""
    import pandas as pd

    tables = paths.final_reports_dir(profile) / "tables"
    out = {}
    t2 = tables / "table2_main_paper_reported.csv"
    if t2.is_file():
        df = pd.read_csv(t2)
        if {"Model", "SMPD SRC"} <= set(df.columns):
            out.update({f"table2:{m}": float(v) for m, v in zip(df["Model"], df["SMPD SRC"])})
    pa = tables / "paperA_main.csv"
    if pa.is_file():
        df = pd.read_csv(pa, keep_default_na=False)
        col = next((c for c in df.columns if c.startswith("reported in the paper")), None)
        for _, r in (df.iterrows() if col and "regressor" in df else []):
            m = re.search(r"SRC ([0-9.]+)", str(r[col]))
            if m:
                out[f"paperA:{r['regressor']}"] = float(m.group(1))
    return out


def headline_section(profile: str, label: str | None) -> list[str]:
    from ..data.provenance import label_of

    h = headline(profile)
    rep = reported_numbers(profile)
    h2h = _read(profile, "head_to_head") or {}
    base = h2h.get("best_baseline")
    comparable = label == label_of("smpd")
    paper_col = "reported in the paper (real SMPD)" + ("" if comparable or not label else ": not comparable")
    rows = [("paperA_src", rep.get("paperA:LightGBM")), ("jrpp_src", rep.get("table2:JRPP")),
            ("baseline_src", rep.get(f"table2:{base}") if base else None), ("oracle_src", None)]
    ours = f"ours: {label}" if label else "ours"
    out = ['<a id="headline"></a>', "", "## Headline numbers", "",
           f"`metrics/summary.json` (`dvc metrics show`); the details are in each stage's metrics.", "",
           f"| what | {ours} | {paper_col} |", "|:--|--:|--:|"]
    for key, paper in rows:
        what = SUMMARY[key] + (f" ({base})" if key == "baseline_src" and base else "")
        out.append(f"| {what} | {_fmt(h.get(key))} | {_fmt(paper)} |")
    if "h2h_delta_src" in h:
        out.append(f"| {SUMMARY['h2h_delta_src']} | {h['h2h_delta_src']:+.4f} (p = {h['h2h_p']:.4f}) | - |")
    out.append("")
    if label and not comparable:
        out += [f"The right column is the papers' numbers on real SMPD; ours are on {label}: "
                "different data, **not comparable**. It is shown so that a reader sees both, never "
                "as a score to match.", ""]
    return out


def _fmt(v) -> str:
    return "-" if v is None else f"{v:.4f}"


# ----------------------------------------------------------------------------- HTML
CSS = """
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 0 auto;
       max-width: 1200px; padding: 1.5em 2em; color: #1f2328; line-height: 1.45; }
h1 { border-bottom: 2px solid #d0d7de; padding-bottom: .3em; }
h2 { border-bottom: 1px solid #d0d7de; padding-bottom: .2em; margin-top: 2.2em; }
h3 { margin-top: 1.6em; font-size: 1.05em; }
table { border-collapse: collapse; margin: .6em 0 1em; font-size: .85em; display: block;
        overflow-x: auto; max-width: 100%; }
th, td { border: 1px solid #d0d7de; padding: .25em .55em; }
th { background: #f6f8fa; }
tr:nth-child(even) td { background: #fbfbfc; }
img { max-width: 100%; height: auto; border: 1px solid #eee; }
code { background: #f6f8fa; padding: .1em .3em; border-radius: 4px; font-size: .9em; }
blockquote { border-left: 4px solid #d4a72c; margin: 0; padding: .2em 1em; background: #fff8e1; }
"""


def _data_uri(path: Path) -> str:
    kind = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".svg": "image/svg+xml"}
    return f"data:{kind.get(path.suffix.lower(), 'application/octet-stream')};base64," \
           + base64.b64encode(path.read_bytes()).decode("ascii")


def to_html(markdown: str, reports: Path, title: str) -> str:
    """``markdown`` as one HTML page: local images inlined as data URIs (relative to
    ``reports``), every other link left relative (it works beside the page)."""
    import html

    from markdown_it import MarkdownIt

    body = MarkdownIt("commonmark", {"html": True}).enable("table").render(markdown)

    def inline(m):
        src = html.unescape(m.group(1))
        f = (reports / src).resolve()
        if re.match(r"^[a-z]+:", src) or not f.is_file():
            return m.group(0)
        return f'<img src="{_data_uri(f)}"'

    body = re.sub(r'<img src="([^"]+)"', inline, body)
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            f"<title>{html.escape(title)}</title>\n<style>{CSS}</style>\n</head>\n<body>\n{body}</body>\n</html>\n")


def write(profile: str) -> list[Path]:
    reports = paths.final_reports_dir(profile)
    md = render(profile)
    page = to_html(render(profile, link_notebooks=True), reports, f"smpp results ({profile})")
    return [write_text(reports / "index.md", md),
            write_text(reports / "index.html", page),
            write_json(reports / "metrics" / "summary.json", headline(profile))]
