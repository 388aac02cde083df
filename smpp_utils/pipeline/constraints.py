"""Rules across knobs of different sections, and between knobs and the data they will meet,
that ``core.knobs`` (one section at a time, no data) cannot see. The pre-flight
(``pipeline.preflight``) runs them before any stage, so a stage never meets a combination that
was knowable up front. Each problem is one line naming the knob (``default.jrpp.k: ...``).

Rules (``p`` = the profile):

* the train bank: JRPP retrieves from the train split of the random scheme and a train query
  never retrieves itself, so ``jrpp.k``, ``jrpp.shortlist`` and every ``ablations.k_values``
  must be below the number of train posts; the regime sweep (stage 09) trains JRPP and the
  kNN rows on ``regimes.posts``-sized data, so ``jrpp.k``/``shortlist`` and
  ``regimes.knn_shortlist`` must fit that train split too. The train size is computed as
  ``data.splits.random_split`` computes it: ``n - round(n * test_frac) - round(n * val_frac)``
  of the labelled train-file posts (the chronological split keeps at least as many).
* the Gumbel filter keeps ``k' = floor(kprime_frac * k)`` neighbours: ``k' >= 1`` for
  ``jrpp.k`` and every ``ablations.k_values`` (``jrpp.model`` would silently clamp 0 to 1).
* seeds: ``ablations.sweep_seeds <= ablations.n_seeds`` (``analysis.jrpp_figures.sweep_rows``
  trains the first ``sweep_seeds`` of the seeds it reads); ``ablations.n_seeds <=
  jrpp.n_seeds`` is ``core.knobs``'.
* PCA: ``boosting.pca_dims`` and ``regimes.pca_dims`` (when > 0) must be below the width of
  the embedding blocks they reduce (the CLIP width ``embed_dim`` of ``prototypes.clip_model``,
  MiniLM's 384) and at most the train posts: otherwise ``paper_a.boosting.matrices._pca``
  keeps the block unreduced while the captions report ``pca_dims`` components.
* ``data.date_window`` parses as two ISO days in order (its type and bounds are
  ``core.knobs``'; learning rates are bounded there too: at most 1).
"""

from __future__ import annotations

import re

MINILM_DIM = 384   # = embed.encoders.MINILM_DIM (not imported: core does not import embed)


def _ints(spec) -> list[int]:
    """'5,10' -> [5, 10] (bad items are core.knobs' business: skipped here)."""
    out = []
    for s in re.split(r"[,;]", str(spec or "")):
        try:
            out.append(int(s.strip()))
        except ValueError:
            pass
    return sorted(set(out))


def train_size(n: int, val_frac: float, test_frac: float) -> int:
    """Train posts of ``data.splits.random_split`` over ``n`` labelled train-file posts."""
    return n - int(round(n * test_frac)) - int(round(n * val_frac))


def clip_width(model_name: str) -> int | None:
    """``embed_dim`` of an open_clip architecture (project configs included); None when
    unknown (``create_clip`` names that error)."""
    from ..core.clip_weights import model_width

    try:
        return model_width(model_name)
    except Exception:         # noqa: BLE001 - a missing architecture is reported elsewhere
        return None


def emb_width(spec: str, clip_dim: int | None) -> int | None:
    """Width of a stage-02 embedding ``file:array`` (clip: the CLIP width; minilm: 384)."""
    file = str(spec).split(":", 1)[0]
    return clip_dim if file == "clip" else MINILM_DIM if file == "minilm" else None


def problems(profile: str, params: dict, facts: dict | None = None) -> list[str]:
    """Every cross-knob problem of ``profile`` (empty when none). ``facts``:
    ``{"labelled_train": n}`` = labelled posts of the official train files when the data is
    real SMPD (from the reader's pass); without it the rules on the bank size are skipped
    for ``data.source: smpd``."""
    b = params[profile]
    p = profile
    facts = facts or {}
    out: list[str] = []
    data, jrpp, abl = b["data"], b["jrpp"], b["ablations"]

    k, frac = int(jrpp["k"]), float(jrpp["kprime_frac"])
    for where, kk in [(f"{p}.jrpp.kprime_frac", k)] + \
            [(f"{p}.ablations.k_values", v) for v in _ints(abl["k_values"])]:
        if int(frac * kk) < 1:
            out.append(f"{where}: the filter keeps k' = floor(jrpp.kprime_frac * k) = "
                       f"floor({frac:g} * {kk}) = 0 neighbours; kprime_frac * k must be >= 1 "
                       f"(kprime_frac >= {1 / kk:.4g})")

    if int(abl["sweep_seeds"]) > int(abl["n_seeds"]):
        out.append(f"{p}.ablations.sweep_seeds: must be <= {p}.ablations.n_seeds "
                   f"({abl['n_seeds']}): the trained k / M points use the first sweep_seeds of "
                   f"the seeds stage 06 reads; got {abl['sweep_seeds']}")

    out += _date_window(p, data)

    vf, tf = float(data["val_frac"]), float(data["test_frac"])
    n_lab = int(data["sim_posts"]) if data["source"] == "sim" else facts.get("labelled_train")
    n_train = train_size(int(n_lab), vf, tf) if n_lab is not None else None
    if n_train is not None:
        what = (f"{n_train} train posts: {n_lab} labelled {'simulated ' if data['source'] == 'sim' else ''}"
                f"train-file posts less val {vf:g} / test {tf:g}")
        avail = n_train - 1           # a train query never retrieves itself
        for where, v in [(f"{p}.jrpp.k", k), (f"{p}.jrpp.shortlist", int(jrpp["shortlist"]))] + \
                [(f"{p}.ablations.k_values", v) for v in _ints(abl["k_values"])[-1:]]:
            if v > avail:
                out.append(f"{where}: {v} neighbours requested but the retrieval bank holds "
                           f"{what}; at most {max(avail, 0)} (a query never retrieves itself)")

    reg = b["regimes"]
    n_reg = train_size(int(reg["posts"]), vf, tf)
    what = f"{n_reg} train posts per regime ({p}.regimes.posts {reg['posts']} less val/test)"
    for where, v, avail in ((f"{p}.jrpp.k", k, n_reg - 1),
                            (f"{p}.jrpp.shortlist", int(jrpp["shortlist"]), n_reg - 1),
                            (f"{p}.regimes.knn_shortlist", int(reg["knn_shortlist"]), n_reg)):
        if v > avail:
            out.append(f"{where}: {v} neighbours requested but stage regimes trains on {what}; "
                       f"at most {max(avail, 0)} (raise regimes.posts or lower the knob)")

    clip_dim = clip_width(b["prototypes"]["clip_model"])
    pca = [("boosting", [clip_dim, MINILM_DIM], n_train),
           ("regimes", [emb_width(jrpp["image_emb"], clip_dim), emb_width(jrpp["text_emb"], clip_dim)], n_reg)]
    for sec, widths, rows in pca:
        dims = int(b[sec]["pca_dims"])
        widths = [w for w in widths if w]
        if dims <= 0:
            continue
        if widths and dims >= min(widths):
            out.append(f"{p}.{sec}.pca_dims: must be < {min(widths)}, the narrowest embedding block "
                       f"it reduces (CLIP {b['prototypes']['clip_model']} width {clip_dim}, MiniLM "
                       f"{MINILM_DIM}), or 0 for no PCA; got {dims} (the block would stay unreduced "
                       f"while the captions report {dims} components)")
        elif rows is not None and dims > rows:
            out.append(f"{p}.{sec}.pca_dims: must be <= the {rows} train posts its PCA is fitted "
                       f"on, or 0; got {dims}")
    return out


def _date_window(p: str, data: dict) -> list[str]:
    """``data.date_window``: 'YYYY-MM-DD,YYYY-MM-DD', first before last."""
    from ..data.smpd import date_bounds

    try:
        date_bounds(data["date_window"])
    except ValueError as exc:
        return [f"{p}.{exc}"]
    return []
