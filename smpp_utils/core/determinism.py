"""Byte-for-byte comparison of two runs' outputs (``make check-determinism``).

    python -m smpp_utils.core.determinism RUN_A RUN_B [--under data/ci models/ci reports/ci]

Compares every file under the given folders of two project copies and prints, per file that
differs or exists in one run only, its path and sizes; exits 1 on any difference. Files that
are meant to vary between runs are skipped and listed: wall-clock timings
(``*/timings/*``) and the executed notebooks (``*/notebooks/*.ipynb``, which carry papermill's
start/end times).
"""

from __future__ import annotations

import argparse
import filecmp
import fnmatch
import sys
from pathlib import Path

DEFAULT_UNDER = ("data/ci", "models/ci", "reports/ci")
VOLATILE = ("*/timings/*", "*/notebooks/*.ipynb", "*/.running/*")


def _files(root: Path, under: tuple[str, ...]) -> set[str]:
    out = set()
    for sub in under:
        base = root / sub
        if base.is_dir():
            out |= {p.relative_to(root).as_posix() for p in base.rglob("*") if p.is_file()}
    return out


def compare(a, b, under=DEFAULT_UNDER, volatile=VOLATILE) -> dict[str, list[str]]:
    """``{"differ": [...], "only_a": [...], "only_b": [...], "skipped": [...], "same": [...]}``
    over the files under ``under`` of the two roots (paths relative to the roots)."""
    a, b = Path(a), Path(b)
    fa, fb = _files(a, tuple(under)), _files(b, tuple(under))
    result = {"differ": [], "only_a": [], "only_b": [], "skipped": [], "same": []}
    for rel in sorted(fa | fb):
        if any(fnmatch.fnmatch(rel, pat) for pat in volatile):
            result["skipped"].append(rel)
        elif rel not in fb:
            result["only_a"].append(rel)
        elif rel not in fa:
            result["only_b"].append(rel)
        elif filecmp.cmp(a / rel, b / rel, shallow=False):
            result["same"].append(rel)
        else:
            result["differ"].append(rel)
    return result


def report(result: dict, a, b) -> str:
    lines = [f"compared {len(result['same']) + len(result['differ'])} files present in both runs; "
             f"{len(result['same'])} identical, {len(result['differ'])} differ, "
             f"{len(result['only_a'])} only in {a}, {len(result['only_b'])} only in {b}; "
             f"skipped (vary by design): {len(result['skipped'])}"]
    for rel in result["differ"]:
        sa, sb = (Path(a) / rel).stat().st_size, (Path(b) / rel).stat().st_size
        lines.append(f"DIFFERS   {rel}  ({sa} vs {sb} bytes)")
    lines += [f"ONLY IN A {rel}" for rel in result["only_a"]]
    lines += [f"ONLY IN B {rel}" for rel in result["only_b"]]
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="compare two runs' outputs byte for byte")
    ap.add_argument("run_a")
    ap.add_argument("run_b")
    ap.add_argument("--under", nargs="+", default=list(DEFAULT_UNDER))
    args = ap.parse_args(argv)
    result = compare(args.run_a, args.run_b, args.under)
    print(report(result, args.run_a, args.run_b))
    if not (result["same"] or result["differ"]):
        print("nothing to compare: no outputs found", file=sys.stderr)
        return 1
    return 1 if (result["differ"] or result["only_a"] or result["only_b"]) else 0


if __name__ == "__main__":
    sys.exit(main())
