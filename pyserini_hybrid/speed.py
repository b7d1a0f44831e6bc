"""Encoding and training speed on this machine, timed the way users run them, each in a fresh process.

    python -m pyserini_hybrid.speed [--passages 1000] [--repeats 2] [--train-steps 4] [--train-repeats 2]

This driver owns the flags; the measurement (what is timed, and how) is ``bench.speed``; the figures are in
docs/speed.md.
"""

import argparse
import sys
from pathlib import Path

from .bench.speed import SETTINGS, check_options, encode_worker, run
from .core.errors import cli
from .core.files import PROJECT_ROOT


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m pyserini_hybrid.speed", description=__doc__.split("\n")[0])
    p.add_argument("--model", help="model directory for encoding (default: the embedded multilingual-e5-small)")
    p.add_argument("--dataset", default="xquad-r")
    p.add_argument("--topics-dir", type=Path, help="converted topic sets (default: the project's topics/)")
    p.add_argument("--passages", type=int, default=1000, help="passages to encode (0: no encoding lines)")
    p.add_argument("--encode", nargs="*", default=["fp32", "bf16", "auto"], choices=["fp32", "bf16", "auto"],
                   help="our encoder's precisions to time (default: fp32 bf16 auto)")
    p.add_argument("--no-pyserini", dest="pyserini", action="store_false",
                   help="leave out Pyserini's AutoDocumentEncoder line")
    p.add_argument("--batch-size", type=int, default=64, help="Pyserini's chunk size, as --batch-size of pyserini.encode")
    p.add_argument("--chunk", type=int, help="texts per encode call for ours (default: what dense runs use)")
    p.add_argument("--threads", type=int, default=2, help="threads for encoding (training: the recipe's)")
    p.add_argument("--repeats", type=int, default=2, help="timed encoding passes after the first")
    p.add_argument("--train-steps", type=int, default=4, help="steps per training process (0: no training lines)")
    p.add_argument("--train-repeats", type=int, default=2, help="fresh training processes per setting")
    p.add_argument("--settings", nargs="*", default=list(SETTINGS), metavar="PRECISION/SUB_BATCH",
                   help=f"training settings (default: {' '.join(SETTINGS)})")
    p.add_argument("--recipe", type=Path, default=PROJECT_ROOT / "encoders" / "me5-small-hybrid-cpu.toml")
    p.add_argument("--data-dir")
    p.add_argument("--json", help="also write the figures to this JSON file")
    p.add_argument("--keep", type=Path, help="keep the training runs' output directories here")
    # the encoding worker (a fresh process per encoder)
    p.add_argument("--encode-worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--encoder", choices=["ours", "pyserini"], help=argparse.SUPPRESS)
    p.add_argument("--texts", help=argparse.SUPPRESS)
    p.add_argument("--embeddings", help=argparse.SUPPRESS)
    return p


@cli
def main(argv=None) -> int:
    args = parser().parse_args(argv)
    if args.encode_worker:
        return encode_worker(args)
    check_options(args)
    run(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
