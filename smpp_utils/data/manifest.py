"""What the pipeline reads from outside the project, by content: the sha256 of a file, the
manifest of an official-format SMPD folder, and where the pre-flight records them
(``data/<profile>/external/``). The data stage compares the recorded manifest with the folder
it reads (``data.prepare``), so a changed SMPD folder is never read under an old hash."""

from __future__ import annotations

import hashlib
from pathlib import Path

from ..core import paths
from .schema import RAW_FILES

SPLITS = ("train", "test")
CHUNK = 1 << 20


def sha256_file(path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(CHUNK), b""):
            h.update(block)
    return h.hexdigest()


def smpd_manifest(root) -> dict:
    """Content hash of an official-format SMPD folder: every metadata file's sha256 and size,
    and one sha256 over the image list (``img_path<TAB>bytes`` per listed image; -1 = missing)."""
    root = Path(root)
    files, images = {}, hashlib.sha256()
    n_images = n_missing = 0
    for split in SPLITS:
        for name in RAW_FILES.values():
            p = root / name.format(split=split)
            if p.is_file():
                files[p.name] = {"sha256": sha256_file(p), "bytes": p.stat().st_size}
        listing = root / RAW_FILES["img_filepath"].format(split=split)
        if listing.is_file():
            for line in listing.read_text(encoding="utf-8", errors="replace").splitlines():
                rel = line.strip()
                if not rel:
                    continue
                try:
                    size = (root / rel).stat().st_size
                except OSError:
                    size, n_missing = -1, n_missing + 1
                images.update(f"{rel}\t{size}\n".encode("utf-8", "surrogateescape"))
                n_images += 1
    return {"source": "smpd", "root": str(root), "files": files,
            "images": {"listed": n_images, "missing": n_missing, "list_sha256": images.hexdigest()}}


def external_dir(profile: str) -> Path:
    return paths.data_dir(profile) / "external"
