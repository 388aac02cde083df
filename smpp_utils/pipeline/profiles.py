"""Switch the active profile: the alias on the last line of params.yaml, and dvc.yaml for its
data source (the stages that apply to it).

    python -m smpp_utils profile            # which profile is active, and the others
    python -m smpp_utils profile ci         # make `ci` the active profile

``make repro PROFILE=ci`` does this before it runs. Switching writes two tracked files
(params.yaml's last line and, for a profile whose data source runs other stages, dvc.yaml);
``git checkout params.yaml dvc.yaml dvc.lock`` puts the committed state back.
"""

from __future__ import annotations

import argparse
import re
import sys

from ..core import config, knobs, paths
from ..core.io import write_text

LAST_LINE = re.compile(r"^profile: \*(\S+)\s*$", re.M)


def active() -> str:
    return config.load_params()["profile"]["name"]


def switch(name: str) -> bool:
    """Make ``name`` the active profile; True if anything changed."""
    if name not in knobs.PROFILES:
        raise SystemExit(f"unknown profile {name!r}; params.yaml has {', '.join(knobs.PROFILES)}")
    path = paths.ROOT / "params.yaml"
    text = path.read_text()
    if not LAST_LINE.search(text):
        raise SystemExit(f"{path}: no `profile: *<name>` line to switch (it must be the last line)")
    new = LAST_LINE.sub(f"profile: *{name}", text)
    changed = new != text
    if changed:
        write_text(path, new)
    config.load_params()                         # the switched file still validates
    from . import dvcgen

    if dvcgen.check():
        dvcgen.write()
        changed = True
    return changed


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m smpp_utils profile",
                                 description="Show or switch the active profile (params.yaml's last line).")
    ap.add_argument("name", nargs="?", help=f"one of {', '.join(knobs.PROFILES)}")
    args = ap.parse_args(argv)
    if args.name is None:
        now = active()
        print("active profile:", now, "| others:", ", ".join(p for p in knobs.PROFILES if p != now))
        return 0
    changed = switch(args.name)
    print(f"profile {args.name} is active" + ("" if changed else " (already)"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
