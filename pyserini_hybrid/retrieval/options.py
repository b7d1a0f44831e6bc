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


def add_topic_set_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--topic-sets", action="append", metavar="FILE",
                        help="a topic-set file of your own (TOML/JSON; repeatable); its sets are then named like "
                             "the built-in ones (also $PYSERINI_HYBRID_TOPIC_SETS, topic-sets.toml in the data dir)")
    parser.add_argument("--data-dir", help="data directory (default ../shared/data or $PYSERINI_HYBRID_DATA)")


def use_topic_sets(args: argparse.Namespace, dataset_attr: str | None = "dataset") -> None:
    """Make the command's own topic-set files and data directory count, then check the dataset name."""
    from ..data import topic_sets as tp

    tp.register_topic_sets(getattr(args, "topic_sets", None))
    tp.use_data_dir(getattr(args, "data_dir", None))
    if dataset_attr:
        tp.dataset_spec(getattr(args, dataset_attr))


def retrieval_parser(system: str, description: str) -> argparse.ArgumentParser:
    from ..data.topic_sets import CORPUS_VARIANTS

    parser = argparse.ArgumentParser(prog=f"python -m pyserini_hybrid.{system}", description=description)
    parser.add_argument("--dataset", required=True,
                        help="a topic set: xquad-r, mlqa-r, miracl-mini, miracl or one of your own (--topic-sets)")
    parser.add_argument("--output", type=Path, help=f"run directory (default runs/{system}/<dataset>)")
    parser.add_argument("--languages", nargs="+", help="candidate and query languages (default: all)")
    parser.add_argument("--corpus", choices=CORPUS_VARIANTS, default="sentence",
                        help="candidate text: the sentence alone, or with its paragraph as context")
    parser.add_argument("--hits", type=int, help=f"run depth (default {DEFAULT_HITS}, or the set's own: ntrex 100)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--index-dir", type=Path, help=f"index root (default indexes/{system})")
    parser.add_argument("--topics-dir", type=Path)
    add_topic_set_flags(parser)
    return parser


POSITIVE_FLAGS = ("hits", "depth", "threads", "batch_size", "shard_num")  # each >= 1 where a command has it


def check_flags(args: argparse.Namespace) -> None:
    """Flags checked before any work starts (issue 19): counts at least 1, a model that is a directory
    (or a plausible hub id, said to need a directory here); one line naming the flag."""
    for name in POSITIVE_FLAGS:
        value = getattr(args, name, None)
        if value is not None and value < 1:
            raise InputError(f"--{name.replace('_', '-')} {value}: must be at least 1")
    model = getattr(args, "model", None)
    if model is not None:
        from ..models.default_model import check_start_model

        check_start_model(model, "--model")
        if not Path(model).expanduser().is_dir():
            raise InputError(f"--model {model}: a hub id, not a model directory; dense retrieval needs a directory "
                             "with pyserini_hybrid.json (train one, or omit --model for the embedded mE5-small)")


def checked_args(parser: argparse.ArgumentParser, argv) -> argparse.Namespace:
    args = parser.parse_args(argv)
    check_flags(args)
    use_topic_sets(args)
    if getattr(args, "hits", 0) is None:  # a set's own default depth (NTREX: 100), else ours
        from ..data.topic_sets import default_hits

        args.hits = default_hits(args.dataset) or DEFAULT_HITS
    return args


def cached_path(legacy: Path, per_language: Path, lareqa: bool) -> Path:
    """Where a language's index lives: under the whole set's data key (LAReQA, and any index built so
    before), else under its own language's key, so adding a language leaves the others' indexes valid."""
    return legacy if lareqa or legacy.exists() else per_language


def unchecked_sources(meta: dict, langs: list[str]) -> dict:
    """The real checksums of data that had none to be checked against (recorded in run-meta.json)."""
    return {x: meta["sources"][x] for x in langs if x in meta.get("unchecked", [])}
