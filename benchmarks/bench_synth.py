"""Time ``mdfnet.synth.generate``: the brief asks for 500 patients at 512 px in under a minute on 2 cores.

Prints the wall time, the time per film, the images and bytes written, and whether a second run with the
same seed gave byte-identical files.

    .venv/bin/python benchmarks/bench_synth.py                        # 500 patients, 512 px
    .venv/bin/python benchmarks/bench_synth.py --patients 100 --image-size 256 --no-repeat
"""

from __future__ import annotations

import argparse
import hashlib
import tempfile
import time
from pathlib import Path

from mdfnet.synth import generate


def digest(root: Path) -> tuple[str, int, int]:
    """SHA-256 over every file (path + bytes), the number of JPEGs and the total size in bytes."""
    sha, jpegs, size = hashlib.sha256(), 0, 0
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        data = path.read_bytes()
        sha.update(str(path.relative_to(root)).encode() + data)
        jpegs += path.suffix == ".jpg"
        size += len(data)
    return sha.hexdigest(), jpegs, size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=500)
    parser.add_argument("--image-size", type=int, default=512)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-repeat", action="store_true", help="skip the determinism re-run")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        first = Path(tmp) / "a"
        start = time.perf_counter()
        planted = generate(first, patients=args.patients, image_size=args.image_size, seed=args.seed)
        seconds = time.perf_counter() - start
        sha, jpegs, size = digest(first)
        print(f"generate: {args.patients} patients at {args.image_size} px -> {planted['readings']['read']} readings, "
              f"{jpegs} JPEGs, {size / 1e6:.1f} MB in {seconds:.1f} s ({1000 * seconds / jpegs:.1f} ms per film)")
        if not args.no_repeat:
            second = Path(tmp) / "b"
            generate(second, patients=args.patients, image_size=args.image_size, seed=args.seed)
            print(f"same seed, byte-identical tree: {digest(second)[0] == sha}")


if __name__ == "__main__":
    main()
