"""The flags the retrieval commands share (one vocabulary, as Pyserini's CLIs share theirs), for the drivers
``bm25``, ``dense`` and ``fusion``; the library (``retrieval``) takes the options objects they build."""

from __future__ import annotations

import argparse
from pathlib import Path

from .core.files import work_dir
from .data import topic_sets as tp
from .retrieval.options import DEFAULT_HITS, check_flags


def add_topic_set_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--topic-sets", action="append", metavar="FILE",
                        help="a topic-set file of your own (TOML/JSON; repeatable); its sets are then named like "
                             "the built-in ones (also $PYSERINI_HYBRID_TOPIC_SETS, topic-sets.toml in the data dir)")
    parser.add_argument("--data-dir", help="data directory (default ../shared/data or $PYSERINI_HYBRID_DATA)")


def use_topic_sets(args: argparse.Namespace, dataset_attr: str | None = "dataset") -> None:
    """Make the command's own topic-set files and data directory count, then check the dataset name."""
    tp.register_topic_sets(getattr(args, "topic_sets", None))
    tp.use_data_dir(getattr(args, "data_dir", None))
    if dataset_attr:
        tp.dataset_spec(getattr(args, dataset_attr))


def retrieval_parser(system: str, description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=f"python -m pyserini_hybrid.{system}", description=description)
    parser.add_argument("--dataset", required=True,
                        help="a topic set: xquad-r, mlqa-r, miracl-mini, miracl or one of your own (--topic-sets)")
    parser.add_argument("--output", type=Path, help=f"run directory (default <work dir>/runs/{system}/<dataset>)")
    parser.add_argument("--languages", nargs="+", help="candidate and query languages (default: all)")
    parser.add_argument("--corpus", choices=tp.CORPUS_VARIANTS, default="sentence",
                        help="candidate text: the sentence alone, or with its paragraph as context")
    parser.add_argument("--hits", type=int, help=f"run depth (default {DEFAULT_HITS}, or the set's own: ntrex 100)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--index-dir", type=Path, help=f"index root (default <work dir>/indexes/{system})")
    parser.add_argument("--topics-dir", type=Path, help="converted topic sets (default <work dir>/topics)")
    parser.add_argument("--work-dir", type=Path, help="where topics/, indexes/ and runs/ go (default $PYSERINI_HYBRID_HOME, else the current directory)")
    add_topic_set_flags(parser)
    return parser


def checked_args(parser: argparse.ArgumentParser, argv) -> argparse.Namespace:
    args = parser.parse_args(argv)
    args.work_dir = work_dir(args.work_dir)
    args.topics_dir = args.topics_dir or args.work_dir / "topics"
    check_flags(args)
    use_topic_sets(args)
    if getattr(args, "hits", 0) is None:  # a set's own default depth (NTREX: 100), else ours
        args.hits = tp.default_hits(args.dataset) or DEFAULT_HITS
    return args
