"""``python -m pyserini_hybrid.topics``: convert topic sets, list them, print a named set's file."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..core.errors import cli
from .convert import convert
from .topic_sets import converted_dir, manifest, resolve


@cli
def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pyserini_hybrid.topics", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    conv = sub.add_parser("convert", help="convert datasets into topics/<dataset>/")
    conv.add_argument("datasets", nargs="*", help="default: all in topics/manifest.json")
    conv.add_argument("--data-dir", help="shared data directory (default ../shared/data or $PYSERINI_HYBRID_DATA)")
    conv.add_argument("--topics-dir", type=Path, help="where converted sets go (default topics/)")
    conv.add_argument("--miracl-source", choices=["auto", "files", "bundled"], default="auto",
                      help="MIRACL topics/qrels from the data dir's files or Pyserini's bundled sets (network)")
    sub.add_parser("list", help="list known datasets and languages")
    path = sub.add_parser("path", help="print the file of a named topic set or qrels")
    path.add_argument("name", help="e.g. xquad-r-en (topics), xquad-r-en-de or xquad-r-en-pool (qrels)")
    path.add_argument("--topics-dir", type=Path)
    args = parser.parse_args(argv)

    if args.command == "list":
        for name, spec in manifest().items():
            print(f"{name}\t{spec['format']}\t{' '.join(spec['languages'])}")
    elif args.command == "path":
        print(resolve(args.name, args.topics_dir))
    else:
        for dataset in args.datasets or list(manifest()):
            meta = convert(dataset, args.data_dir, args.topics_dir, args.miracl_source)
            total_q = sum(c["questions"] for c in meta["counts"].values())
            total_c = sum(c["candidates"] for c in meta["counts"].values())
            print(f"{dataset}: {len(meta['languages'])} languages, {total_q} topics, {total_c} candidates, "
                  f"settings {meta['settings']} -> {converted_dir(dataset, args.topics_dir)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
