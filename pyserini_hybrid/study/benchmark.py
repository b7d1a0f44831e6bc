"""The main job: convert the topic sets, run the baselines through Pyserini's CLI, evaluate, summarise.

    python -m pyserini_hybrid.benchmark                      # BM25 on XQuAD-R, MLQA-R, MIRACL-mini
    python -m pyserini_hybrid.benchmark --languages en de    # a smaller slice
    python -m pyserini_hybrid.benchmark --systems bm25 dense # + the embedded multilingual-e5-small

Writes runs to ``runs/<system>/<dataset>/``, evaluations beside them (``eval/``: JSON, Markdown,
per-query TSV, mAP heatmap) and the summary table of README to ``results/summary.md``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from ..core.errors import cli
from ..core.files import PROJECT_ROOT, atomic_write, write_json
from ..data import topic_sets as tp
from ..data.convert import convert
from ..evaluate.measures import evaluate_run_dir
from ..evaluate.render import write_outputs
from ..models.precision import PRECISIONS
from ..retrieval.bm25 import run_bm25
from ..retrieval.dense import run_dense
from ..retrieval.fusion import run_fusion
from ..retrieval.options import DEFAULT_HITS

DATASETS = ["xquad-r", "mlqa-r", "miracl-mini"]
SYSTEMS = ["bm25", "dense", "fusion-rrf", "fusion-interpolation"]


def summary_table(results: dict[tuple[str, str], dict]) -> str:
    """README's table: Mo/Cr/Mul mAP on the LAReQA sets, nDCG@10 / R@100 per MIRACL-mini language."""
    systems = sorted({s for s, _ in results})
    lines = []
    lareqa = [d for d in ("xquad-r", "mlqa-r") if any(k[1] == d for k in results)]
    if lareqa:
        head = "| system | " + " | ".join(f"{d} {m}" for d in lareqa for m in ("Mo", "Cr", "Mul")) + " | " + \
               " | ".join(f"{d} rank dist." for d in lareqa) + " |"
        lines += ["mAP (AP over the run) on XQuAD-R / MLQA-R; rank distance on the multilingual pool (lower = less language bias).", "",
                  head, "|---|" + "---:|" * (4 * len(lareqa))]
        for s in systems:
            cells = []
            for d in lareqa:
                macro = results.get((s, d), {}).get("macro", {})
                cells += [f"{macro[m]['AP']:.4f}" if m in macro else "–" for m in ("Mo", "Cr", "Mul")]
            cells += [f"{results[(s, d)]['rank_distance']['macro']:.1f}"
                      if (results.get((s, d), {}).get("rank_distance") or {}).get("macro") is not None
                      else "–" for d in lareqa]
            lines.append(f"| {s} | " + " | ".join(cells) + " |")
        lines.append("")
    miracl = [results[(s, "miracl-mini")] for s in systems if (s, "miracl-mini") in results]
    if miracl:
        langs = miracl[0]["languages"]
        lines += ["MIRACL-mini (dev queries on the small sub-corpus; not comparable with official MIRACL numbers).", "",
                  "| system | " + " | ".join(f"{x} nDCG@10 | {x} R@100" for x in langs) + " |",
                  "|---|" + "---:|" * (2 * len(langs))]
        for s in systems:
            r = results.get((s, "miracl-mini"))
            if r:
                cells = [f"{r['settings'][f'{x}-{x}'][m]:.4f}" if f"{x}-{x}" in r["settings"] else "–"
                         for x in langs for m in ("nDCG@10", "R@100")]
                lines.append(f"| {s} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


@cli
def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pyserini_hybrid.benchmark", description=__doc__.split("\n")[0])
    parser.add_argument("--datasets", nargs="+", choices=DATASETS, default=DATASETS)
    parser.add_argument("--systems", nargs="+", choices=SYSTEMS, default=["bm25"],
                        help="dense: the --model directory, default the embedded multilingual-e5-small; "
                             "fusion-rrf / fusion-interpolation: BM25 + dense through pyserini.fusion "
                             "(they need the bm25 and dense runs, and run them if listed)")
    parser.add_argument("--model", help="model directory for the dense system")
    parser.add_argument("--languages", nargs="+", help="restrict every dataset to these languages (where it has them)")
    parser.add_argument("--corpus", choices=tp.CORPUS_VARIANTS, default="sentence")
    parser.add_argument("--hits", type=int, default=DEFAULT_HITS)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--data-dir")
    parser.add_argument("--precision", choices=PRECISIONS,
                        help="dense encoding precision (default: auto, bf16 where the CPU has avx512_bf16/AMX)")
    parser.add_argument("--force", action="store_true", help="search again even where runs are up to date")
    parser.add_argument("--work-dir", type=Path, default=PROJECT_ROOT,
                        help="where topics/, indexes/, runs/ and results/ go (default: the project)")
    args = parser.parse_args(argv)

    work = args.work_dir
    topics_dir = work / "topics" if work != PROJECT_ROOT else None
    results, timings = {}, {}
    for dataset in args.datasets:
        t0 = time.time()
        meta = convert(dataset, args.data_dir, topics_dir)
        langs = [x for x in meta["languages"] if not args.languages or x in args.languages]
        if not langs:
            print(f"{dataset}: none of {args.languages} here; skipped", file=sys.stderr)
            continue
        for system in sorted(args.systems, key=SYSTEMS.index):  # fusion after its inputs
            run_dir = work / "runs" / system / dataset
            t1 = time.time()
            if system == "bm25":
                run_bm25(dataset, run_dir, langs, args.corpus, args.hits, args.threads,
                         work / "indexes" / "bm25", topics_dir, args.data_dir, args.force)
            elif system == "dense":
                run_dense(dataset, run_dir, args.model, langs, args.corpus, args.hits, args.threads,
                          index_root=work / "indexes" / "dense", topics_dir=topics_dir, data=args.data_dir,
                          force=args.force, precision=args.precision)
            else:
                run_fusion(dataset, work / "runs" / "dense" / dataset, work / "runs" / "bm25" / dataset, run_dir,
                           system.split("-", 1)[1], depth=args.hits, force=args.force)
            t2 = time.time()
            result = evaluate_run_dir(dataset, run_dir, langs, topics_dir)
            timings[f"{dataset}/{system}"] = {"runs": round(t2 - t1, 1), "evaluation": round(time.time() - t2, 1)}
            write_outputs(result, run_dir / "eval", system)
            results[(system, dataset)] = result
        timings[dataset] = round(time.time() - t0, 1)
        print(f"{dataset}: done in {timings[dataset]} s")
    table = summary_table(results)
    out = work / "results" / "summary.md"
    with atomic_write(out) as f:
        f.write(table)
    write_json(work / "results" / "summary.json",
               {"argv": sys.argv[1:] if argv is None else list(argv), "seconds": timings, "corpus": args.corpus,
                "hits": args.hits, "results": {f"{s}/{d}": {k: v for k, v in r.items() if k != "settings"}
                                               for (s, d), r in results.items()}})
    print(table)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
