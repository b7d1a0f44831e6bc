"""The main job: convert the topic sets, run the baselines through Pyserini's CLI, evaluate, summarise.

    python -m pyserini_hybrid.benchmark                      # BM25 on XQuAD-R, MLQA-R, MIRACL-mini
    python -m pyserini_hybrid.benchmark --languages en de    # a smaller slice
    python -m pyserini_hybrid.benchmark --systems bm25 dense # + the embedded multilingual-e5-small
    python -m pyserini_hybrid.benchmark --systems bm25 dense fusion-rrf --model untuned=default hybrid=models/x
                                                             # several models side by side
    python -m pyserini_hybrid.benchmark --datasets ntrex --systems bm25 dense
                                                             # NTREX-128's default subset (41 languages), 100 deep

Writes runs to ``runs/<system>/<dataset>/``, evaluations beside them (``eval/``: JSON, Markdown,
per-query TSV, mAP heatmap) and the summary table of README to ``results/summary.md``. This driver owns
the flags; the work is ``bench.benchmark``.
"""

import argparse
import sys
from pathlib import Path

from .bench.benchmark import DATASETS, SYSTEMS, benchmark
from .core.errors import cli
from .data.topic_sets import CORPUS_VARIANTS
from .models.precision import PRECISIONS
from .retrieval.options import DEFAULT_HITS


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m pyserini_hybrid.benchmark", description=__doc__.split("\n")[0])
    p.add_argument("--datasets", nargs="+", default=DATASETS,
                   help=f"topic sets (default {' '.join(DATASETS)}; also miracl and your own, --topic-sets)")
    p.add_argument("--systems", nargs="+", choices=SYSTEMS, default=["bm25"],
                   help="dense: the --model directory, default the embedded multilingual-e5-small; "
                        "fusion-rrf / fusion-interpolation: BM25 + dense through pyserini.fusion "
                        "(they need the bm25 and dense runs, and run them if listed)")
    p.add_argument("--model", nargs="+", metavar="[LABEL=]DIR",
                   help="model directory for the dense system (default: the embedded multilingual-e5-small, "
                        "also named 'default'); several: one dense (and fusion) row each, labelled LABEL")
    p.add_argument("--languages", nargs="+", help="restrict every dataset to these languages (where it has them)")
    p.add_argument("--corpus", choices=CORPUS_VARIANTS, default="sentence")
    p.add_argument("--hits", type=int, help=f"run depth (default {DEFAULT_HITS}; a set's own where it has one: "
                                             "ntrex 100)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--data-dir")
    p.add_argument("--precision", choices=PRECISIONS,
                   help="dense encoding precision (default: auto, the faster on this CPU, measured once and cached)")
    p.add_argument("--force", action="store_true", help="search again even where runs are up to date")
    p.add_argument("--work-dir", type=Path, help="where topics/, indexes/, runs/ and results/ go (default "
                                                 "$PYSERINI_HYBRID_HOME, else the current directory)")
    p.add_argument("--prebuilt", action="store_true",
                   help="BM25 on MIRACL languages: Pyserini's prebuilt miracl-v1.0-<lang> indexes (network once)")
    p.add_argument("--shard-num", type=int, default=1, help="dense: encode each corpus in N shards and merge")
    p.add_argument("--topic-sets", action="append", metavar="FILE",
                   help="a topic-set file of your own (TOML/JSON; repeatable): its sets can be --datasets")
    return p


@cli
def main(argv=None) -> int:
    return benchmark(parser().parse_args(argv), argv)


if __name__ == "__main__":
    sys.exit(main())
