"""The training corpus: the source text of the Python standard library, available offline everywhere.

Files are the stdlib's *.py of the running interpreter (tests, idlelib, lib2to3, tkinter and
site-packages left out), sorted by path. A file goes to the held-out test split when the SHA-1 of
its relative path ends in a byte below TEST_FRACTION * 256, so the split is stable across machines.
Each file is prefixed by a header line naming it. Byte-level tokens: token = byte.
"""

from __future__ import annotations

import hashlib
import json
import sys
import sysconfig
from pathlib import Path

EXCLUDED_TOP = {"site-packages", "test", "idlelib", "lib2to3", "tkinter", "turtledemo", "ensurepip"}
TEST_FRACTION = 0.04
SEPARATOR = "\n# ==== {path} ====\n"


def stdlib_files(root: Path) -> list[Path]:
    files = []
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root)
        if rel.parts[0] in EXCLUDED_TOP or "tests" in rel.parts or "test" in rel.parts:
            continue
        files.append(path)
    return files


def is_test_file(rel: str) -> bool:
    return hashlib.sha1(rel.encode()).digest()[-1] < int(TEST_FRACTION * 256)


def build_corpus(out_dir: str | Path) -> dict:
    """Write train.txt, test.txt and manifest.json into out_dir; return the manifest."""
    root = Path(sysconfig.get_paths()["stdlib"])
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    splits = {"train": [], "test": []}
    for path in stdlib_files(root):
        rel = path.relative_to(root).as_posix()
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        splits["test" if is_test_file(rel) else "train"].append(SEPARATOR.format(path=rel) + text)
    manifest = {"source": f"Python {sys.version.split()[0]} standard library source ({root})",
                "excluded": sorted(EXCLUDED_TOP), "test_fraction": TEST_FRACTION}
    for name, parts in splits.items():
        data = "".join(parts).encode("utf-8")
        (out_dir / f"{name}.txt").write_bytes(data)
        manifest[name] = {"files": len(parts), "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    (out_dir / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description="Build the stdlib training corpus (train.txt, test.txt, manifest.json).")
    parser.add_argument("out", help="output folder, e.g. data/corpus")
    print(json.dumps(build_corpus(parser.parse_args().out), indent=2))
