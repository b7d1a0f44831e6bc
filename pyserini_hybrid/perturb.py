"""Adversarial versions of a topic file: typos, stripped diacritics/tone marks, code-switched queries.

    python -m pyserini_hybrid.perturb topics/xquad-r/topics.de.tsv --lang de --kind typos -o de.typos.tsv

This driver owns the flags; the perturbations are ``data.perturb``.
"""

import argparse
import sys
from pathlib import Path

from .core.errors import cli
from .data.perturb import KINDS, perturb_file


@cli
def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pyserini_hybrid.perturb", description=__doc__.split("\n")[0])
    parser.add_argument("topics", type=Path, help="a Pyserini TSV topic file")
    parser.add_argument("--lang", required=True, help="language of the topics")
    parser.add_argument("--kind", required=True, choices=KINDS)
    parser.add_argument("--parallel", type=Path, nargs="*", default=[],
                        help="for code_switch: topic files of other languages (ids '<lang>-<id>')")
    parser.add_argument("--switch-to", help="for code_switch: always this language")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("-o", "--output", type=Path, required=True)
    args = parser.parse_args(argv)
    n, changed = perturb_file(args.topics, args.output, args.lang, args.kind, args.parallel, args.switch_to, args.seed)
    print(f"{args.output}: {n} topics, {changed} changed by {args.kind}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
