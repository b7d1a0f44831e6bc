"""The flags every retrieval command shares (one vocabulary, as Pyserini's CLIs share theirs)."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..core.errors import InputError

DEFAULT_HITS = 1000  # run depth: the XQuAD-R pool has ~13k candidates, so AP needs deep runs


def prune_runs(run_dir: Path, keep: set[str]) -> None:
    """Delete run files this run did not produce, so no stale language or pool is evaluated with it."""
    for path in run_dir.glob("*.trec"):
        if path.name not in keep:
            path.unlink()


def retrieval_parser(system: str, description: str) -> argparse.ArgumentParser:
    from ..data.topic_sets import CORPUS_VARIANTS, manifest

    parser = argparse.ArgumentParser(prog=f"python -m pyserini_hybrid.{system}", description=description)
    parser.add_argument("--dataset", required=True, choices=list(manifest()))
    parser.add_argument("--output", type=Path, help=f"run directory (default runs/{system}/<dataset>)")
    parser.add_argument("--languages", nargs="+", help="candidate and query languages (default: all)")
    parser.add_argument("--corpus", choices=CORPUS_VARIANTS, default="sentence",
                        help="candidate text: the sentence alone, or with its paragraph as context")
    parser.add_argument("--hits", type=int, default=DEFAULT_HITS, help="run depth")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--index-dir", type=Path, help=f"index root (default indexes/{system})")
    parser.add_argument("--topics-dir", type=Path)
    parser.add_argument("--data-dir")
    return parser


def checked_args(parser: argparse.ArgumentParser, argv) -> argparse.Namespace:
    args = parser.parse_args(argv)
    if args.hits < 1:
        raise InputError(f"--hits {args.hits}: must be positive")
    return args
