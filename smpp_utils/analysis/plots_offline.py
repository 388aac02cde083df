"""``dvc plots show`` without the network: an HTML template for DVC with the vega bundle inlined.

DVC's plots page loads vega, vega-lite and vega-embed from a CDN, so offline it is blank. This
module writes a template (``--html-template``) whose ``<head>`` carries the three minified
bundles of a local npm install, and no ``{scripts}`` placeholder (so DVC adds no CDN tags):
the page DVC renders from it is one self-contained file that draws offline.

    npm install --prefix .vega vega@5.21.0 vega-lite@5.2.0 vega-embed@6.18.2   # once, git-ignored
    python -m smpp_utils.analysis.plots_offline .vega                          # -> .vega/template.html
    dvc plots show --html-template .vega/template.html -o dvc_plots

(``make plots`` does the three steps.) The versions are those DVC's own page asks the CDN for,
with vega raised to the 5.21.0 that vega-lite 5.2.0 declares as its peer.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

BUNDLES = ("vega/build/vega.min.js", "vega-lite/build/vega-lite.min.js", "vega-embed/build/vega-embed.min.js")
PLACEHOLDERS = ("{plot_divs}", "{scripts}", "{refresh_tag}")   # what DVC replaces in a template

PAGE = """<!DOCTYPE html>
<html>
<head>
<meta charset="utf-8">
{refresh_tag}
<title>DVC plots (smpp, offline)</title>
<style>body { font-family: Helvetica, Arial, sans-serif; margin: 1em; } table { border-spacing: 15px; }</style>
{bundles}
</head>
<body>
{plot_divs}
</body>
</html>
"""


def template(bundle_dir) -> str:
    """The template text: ``bundle_dir`` is the npm prefix (holding ``node_modules``)."""
    modules = Path(bundle_dir) / "node_modules"
    scripts = []
    for rel in BUNDLES:
        f = modules / rel
        if not f.is_file():
            raise FileNotFoundError(f"{f}: missing - install the bundle first: npm install --prefix "
                                    f"{bundle_dir} vega@5.21.0 vega-lite@5.2.0 vega-embed@6.18.2")
        js = f.read_text(encoding="utf-8")
        for bad in PLACEHOLDERS:
            if bad in js:                  # DVC would substitute into the library's code
                raise ValueError(f"{f}: contains {bad!r}, which DVC replaces in templates")
        js = js.replace("</script", "<\\/script")     # cannot end the inline element early
        scripts.append(f"<script>/* {rel} */\n{js}\n</script>")
    return PAGE.replace("{bundles}", "\n".join(scripts))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="Write an HTML template for `dvc plots show "
                                             "--html-template` with the vega bundle inlined (works offline).")
    ap.add_argument("bundle_dir", nargs="?", default=".vega",
                    help="npm prefix holding node_modules/vega, vega-lite, vega-embed (default .vega)")
    ap.add_argument("-o", "--out", default=None, help="template file (default <bundle_dir>/template.html)")
    args = ap.parse_args(argv)
    out = Path(args.out or Path(args.bundle_dir) / "template.html")
    try:
        text = template(args.bundle_dir)
    except (FileNotFoundError, ValueError) as exc:
        print(exc, file=sys.stderr)
        return 1
    out.write_text(text, encoding="utf-8")
    print(f"{out}: {len(text) // 1024} KiB; use: dvc plots show --html-template {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
