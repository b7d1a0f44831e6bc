"""``python -m pyserini_hybrid.topics``: convert topic sets, list them, print a named set's file."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..core.errors import cli
from ..core.files import work_dir
from . import miracl
from . import topic_sets as tp
from .convert import convert


def common() -> argparse.ArgumentParser:
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument("--topic-sets", action="append", metavar="FILE",
                        help="a topic-set file of your own (TOML or JSON; repeatable; also $PYSERINI_HYBRID_TOPIC_SETS "
                             "and topic-sets.toml in the data directory)")
    parent.add_argument("--data-dir", help="data directory (default ../shared/data or $PYSERINI_HYBRID_DATA)")
    parent.add_argument("--work-dir", type=Path, help="where topics/ goes (default $PYSERINI_HYBRID_HOME, else the "
                                                       "current directory)")
    return parent


@cli
def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pyserini_hybrid.topics", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    conv = sub.add_parser("convert", parents=[common()], help="convert datasets into topics/<dataset>/")
    conv.add_argument("datasets", nargs="*", help=f"default: {', '.join(tp.DEFAULT_DATASETS)} and your own sets")
    conv.add_argument("--languages", nargs="+",
                      help="MIRACL, NTREX and Pyserini-format sets: the languages to convert (added to those converted "
                           "before); ntrex also takes 'default' (its default subset, also what it converts without "
                           "this flag) and 'all'")
    conv.add_argument("--topics-dir", type=Path, help="where converted sets go (default <work dir>/topics)")
    conv.add_argument("--miracl-source", choices=["auto", "files", "bundled"], default="auto",
                      help="MIRACL topics/qrels from the data dir's files or Pyserini's bundled sets (network)")
    conv.add_argument("--shard-size", type=int,
                      help="passages per JsonCollection file (default 1,000,000 or $PYSERINI_HYBRID_SHARD_PASSAGES)")
    sub.add_parser("list", parents=[common()], help="list known datasets and the languages present")
    sub.add_parser("miracl", help="MIRACL's 18 languages: analyzer, Pyserini's topic and index names, hub files")
    path = sub.add_parser("path", parents=[common()], help="print the file of a named topic set or qrels")
    path.add_argument("name", help="e.g. xquad-r-en (topics), xquad-r-en-de or xquad-r-en-pool (qrels)")
    path.add_argument("--topics-dir", type=Path)
    args = parser.parse_args(argv)
    tp.register_topic_sets(getattr(args, "topic_sets", None))
    tp.use_data_dir(getattr(args, "data_dir", None))
    if hasattr(args, "work_dir"):
        args.topics_dir = getattr(args, "topics_dir", None) or work_dir(args.work_dir) / "topics"

    if args.command == "list":
        for name, spec in tp.manifest().items():
            print(f"{name}\t{spec['format']}\t{' '.join(tp.present_languages(name, args.data_dir))}"
                  + (f"\t{spec['origin']}" if spec.get("origin") else ""))
    elif args.command == "miracl":
        print("lang\tanalyzer\ttopics and qrels\tprebuilt index\thub corpus files")
        for lang in miracl.MIRACL_LANGUAGES:
            f = miracl.facts(lang)
            print(f"{lang}\t{f['analyzer']}\t{f['bundled_topics']}\t{f['prebuilt_index']}\t"
                  f"{miracl.hub_data_files(f['hub_corpus'])}")
    elif args.command == "path":
        print(tp.resolve(args.name, args.topics_dir))
    else:
        names = args.datasets or [*tp.DEFAULT_DATASETS, *(n for n, s in tp.manifest().items() if s.get("origin"))]
        for dataset in names:
            meta = convert(dataset, args.data_dir, args.topics_dir, args.miracl_source, languages=args.languages,
                           shard_size=args.shard_size)
            total_q = sum(c["questions"] for c in meta["counts"].values())
            total_c = sum(c["candidates"] for c in meta["counts"].values())
            print(f"{dataset}: {len(meta['languages'])} languages ({' '.join(meta['languages'])}), {total_q} topics, "
                  f"{total_c} candidates, settings {meta['settings']} -> {tp.converted_dir(dataset, args.topics_dir)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
