"""params.yaml's knob comments are copies of the knobs' declarations in core/knobs.py.

A knob is declared once, in its section's dataclass in ``smpp_utils/core/knobs.py``: its type
(the annotation), its allowed values (the ``knob(...)`` rule) and its meaning (the comment on
the same line). params.yaml holds the values; the comment after each knob of its ``base``
block is that declaration's comment, written here:

    python -m smpp_utils params-doc            # rewrite params.yaml's base comments
    python -m smpp_utils params-doc --check    # exit 1 where a comment differs

Comment lines of their own (above a knob: why a value was chosen) and the profiles' comments
(why a profile departs from base) are the file's own and are left alone.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from ..core import knobs, paths

KNOB_LINE = re.compile(r"^(    (\w+):[ ]*(?:\"[^\"]*\"|'[^']*'|[^#\n]*?))[ ]*(#.*)?$")
SECTION_LINE = re.compile(r"^  (\w+): &\w+\s*(#.*)?$")
COMMENT_COLUMN = 27


def declared_comments() -> dict[tuple[str, str], str]:
    """``{(section, knob): comment}`` from the source of core/knobs.py."""
    src = Path(knobs.__file__).read_text().splitlines()
    by_class = {cls.__name__: name for name, cls in knobs.SECTIONS.items()}
    out, section = {}, None
    for line in src:
        if m := re.match(r"^class (\w+)\b", line):
            section = by_class.get(m.group(1))
            continue
        if section and (m := re.match(r"^    (\w+): [\w\[\] |]+ = knob\(.*\)\s*#\s*(.*)$", line)):
            out[(section, m.group(1))] = m.group(2).strip()
    return out


def synced(text: str, comments: dict[tuple[str, str], str]) -> tuple[str, list[str]]:
    """(params.yaml text with every base knob's comment from ``comments``, the knobs changed)."""
    lines, out, changed = text.splitlines(), [], []
    section, in_base = None, False
    for line in lines:
        if line.startswith("base:"):
            in_base = True
        elif line and not line.startswith((" ", "#")):
            in_base = False
        if in_base and (m := SECTION_LINE.match(line)):
            section = m.group(1)
        elif in_base and section and (m := KNOB_LINE.match(line)) and (section, m.group(2)) in comments:
            head, want = m.group(1).rstrip(), "# " + comments[(section, m.group(2))]
            new = head + " " * max(2, COMMENT_COLUMN - len(head)) + want
            if new != line:
                changed.append(f"{section}.{m.group(2)}")
            line = new
        out.append(line)
    return "\n".join(out) + "\n", changed


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m smpp_utils params-doc",
                                 description="Copy each knob's comment from core/knobs.py into params.yaml's base block.")
    ap.add_argument("--check", action="store_true", help="exit 1 if a base comment differs from its declaration")
    args = ap.parse_args(argv)
    path = paths.ROOT / "params.yaml"
    text, changed = synced(path.read_text(), declared_comments())
    if args.check:
        if changed:
            print("params.yaml: comments differ from core/knobs.py for " + ", ".join(changed)
                  + "; run `python -m smpp_utils params-doc`", file=sys.stderr)
            return 1
        print("params.yaml comments match core/knobs.py")
        return 0
    from ..core.io import write_text

    write_text(path, text)
    print(f"params.yaml: {len(changed)} comment(s) rewritten")
    return 0


if __name__ == "__main__":
    sys.exit(main())
