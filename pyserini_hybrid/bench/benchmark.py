"""The benchmark: convert the topic sets, run the baselines through Pyserini's CLI, evaluate, summarise.

Runs go to ``runs/<system>/<dataset>/``, evaluations beside them (``eval/``: JSON, Markdown, per-query TSV,
mAP heatmap) and the summary table of README to ``results/summary.md``. The CLI (its flags, its help) is
``python -m pyserini_hybrid.benchmark`` (``pyserini_hybrid/benchmark.py``).
"""

from __future__ import annotations

import re
import sys
import time
from pathlib import Path
from types import SimpleNamespace

from ..core.errors import InputError
from ..core.files import atomic_write, work_dir, write_json
from ..core.lock import output_lock
from ..data import topic_sets as tp
from ..data.convert import convert
from ..evaluate.measures import evaluate_run_dir
from ..evaluate.render import bitext_summary, write_outputs
from ..pyserini_glue.versions import stack
from ..retrieval.bm25 import run_bm25
from ..retrieval.dense import resolve_model, run_dense
from ..retrieval.fusion import run_fusion
from ..retrieval.options import DEFAULT_HITS, check_flags

DATASETS = ["xquad-r", "mlqa-r", "miracl-mini"]  # ntrex on request: --datasets ntrex
NAMED = ("default", "all")  # NTREX's named language selections
SYSTEMS = ["bm25", "dense", "fusion-rrf", "fusion-interpolation"]


def summary_table(results: dict[tuple[str, str], dict], formats: dict[str, str] | None = None) -> str:
    """README's table: Mo/Cr/Mul mAP on the LAReQA-format sets, then nDCG@10 / R@100 per language for each
    monolingual set (MIRACL, users' MIRACL- or Pyserini-format sets)."""
    systems = list(dict.fromkeys(s for s, _ in results))  # in running order: bm25, dense, fusion
    datasets = list(dict.fromkeys(d for _, d in results))
    formats = formats or {}

    def is_lareqa(d):
        if d in formats:
            return formats[d] == "lareqa"
        return any({"Cr", "Mul"} & set(r.get("macro", {})) for (_, x), r in results.items() if x == d)

    def is_bitext(d):
        return formats.get(d) == "ntrex" or any("groups" in r for (_, x), r in results.items() if x == d)

    lines = []
    lareqa = [d for d in datasets if is_lareqa(d)]
    if lareqa:
        head = "| system | " + " | ".join(f"{d} {m}" for d in lareqa for m in ("Mo", "Cr", "Mul")) + " | " + \
               " | ".join(f"{d} rank dist." for d in lareqa) + " |"
        lines += ["mAP (AP over the run) on " + " / ".join(CAPTIONS.get(d, d) for d in lareqa)
                  + "; rank distance on the multilingual pool (lower = less language bias).", "",
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
    for d in (d for d in datasets if is_bitext(d)):
        runs = {s: results[(s, d)] for s in systems if (s, d) in results}
        first = next(iter(runs.values()))
        lines += bitext_summary(runs, f"NTREX-128 ({len(first['languages'])} languages: X→en, en→X and the pool of "
                                      f"all of them; {first['depth']} deep; MRR@10 = mean RR@10).")
    for d in (d for d in datasets if not is_lareqa(d) and not is_bitext(d)):
        runs = [results[(s, d)] for s in systems if (s, d) in results]
        langs = list(dict.fromkeys(x for r in runs for x in r["languages"]))
        lines += [MONOLINGUAL_CAPTIONS.get(d, f"{d} (monolingual; nDCG@10 and R@100 per language)."), "",
                  "| system | " + " | ".join(f"{x} nDCG@10 | {x} R@100" for x in langs) + " |",
                  "|---|" + "---:|" * (2 * len(langs))]
        for s in systems:
            r = results.get((s, d))
            if r:
                cells = [f"{r['settings'][f'{x}-{x}'][m]:.4f}" if f"{x}-{x}" in r["settings"] else "–"
                         for x in langs for m in ("nDCG@10", "R@100")]
                lines.append(f"| {s} | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines).rstrip("\n") + "\n"


CAPTIONS = {"xquad-r": "XQuAD-R", "mlqa-r": "MLQA-R"}
MONOLINGUAL_CAPTIONS = {
    "miracl-mini": "MIRACL-mini (dev queries on the small sub-corpus; not comparable with official MIRACL numbers).",
    "miracl": "MIRACL (v1.0 dev queries on the full corpora).",
}


def model_systems(systems: list[str], models: list[str] | None) -> list[tuple[str, str, str | None]]:
    """(row name, system, model) in running order (fusion after its inputs). One model (or none: the embedded
    default) keeps the plain names; several ``LABEL=DIR`` (or ``DIR``, labelled by its name; ``default``: the
    embedded model) give ``dense-LABEL`` and ``fusion-rrf-LABEL`` rows, each fusion with its own dense run."""
    parsed = []
    for value in models or [None]:
        label, _, path = value.partition("=") if value and "=" in value else ("", "", value)
        path = None if path in (None, "default") else path
        label = label or (Path(path).name if path else "default")
        if not re.fullmatch(r"[A-Za-z0-9._-]+", label):
            raise InputError(f"--model {value}: a label is letters, digits, '.', '_' or '-' (it names run dirs)")
        parsed.append((label, path))
    labels = [label for label, _ in parsed]
    if len(set(labels)) < len(labels):
        raise InputError(f"--model: two models labelled {', '.join(sorted({x for x in labels if labels.count(x) > 1}))}; "
                         "name them LABEL=DIR")
    out = []
    for system in sorted(systems, key=SYSTEMS.index):
        if system == "bm25":
            out.append(("bm25", "bm25", None))
            continue
        for label, path in parsed:
            out.append((system if len(parsed) == 1 else f"{system}-{label}", system, path))
    return out


def select(datasets: list[str], languages, data) -> tuple[dict[str, list[str] | None], list[str]]:
    """dataset -> the languages to run (None: all it has), and a line per part of the selection skipped.
    Nothing left is a one-line error naming what exists."""
    plan, skipped, matched = {}, [], set()
    for d in datasets:
        have = tp.present_languages(d, data)
        if not have:
            skipped.append(f"{d}: no data here")
            continue
        if not languages:
            plan[d] = None
            continue
        wanted = [x for x in tp.named_languages(d, languages, have, data) if x in have]  # ntrex: default, all
        matched |= {x for x in languages if x in NAMED and tp.dataset_spec(d, data)["format"] == "ntrex"}
        matched |= set(wanted)
        if not wanted:
            skipped.append(f"{d}: none of {', '.join(languages)} (it has {', '.join(have)})")
        else:
            plan[d] = wanted
    if languages and plan and set(languages) - matched:
        skipped.append(f"languages {', '.join(x for x in languages if x not in matched)}: in none of "
                       f"{', '.join(datasets)}")
    if not plan:
        raise InputError("nothing to run: " + "; ".join(skipped))
    if languages:  # a code none of the sets can ever have is a typo, not a part to skip (README: an error)
        known = {x for d in datasets for x in tp.known_languages(d, data)} | (matched & set(NAMED))
        unknown = [x for x in languages if x not in known]
        if unknown:
            raise InputError(f"unknown language code {', '.join(unknown)} (none of {', '.join(datasets)} can have it; "
                             f"known: {', '.join(sorted(known))})")
    return plan, skipped


def benchmark(args, argv=None) -> int:
    """The benchmark of the parsed flags (``args``: the CLI's names); ``argv`` is recorded in summary.json.
    Everything that can be checked is checked before any work starts."""
    tp.register_topic_sets(args.topic_sets)
    tp.use_data_dir(args.data_dir)
    for dataset in args.datasets:
        tp.dataset_spec(dataset, args.data_dir)  # an unknown name: one line naming the known ones
    # counts >= 1 (the models, a list here, are checked just below)
    check_flags(SimpleNamespace(**{k: v for k, v in vars(args).items() if k != "model"}))
    rows = model_systems(args.systems, args.model)
    for _, system, model in rows:
        if system == "dense" and model is not None:
            resolve_model(model)  # a bad directory fails before any work (the default is built under the lock)
    # one writer of a work dir's runs, indexes and summary; the lock sits beside results/ (inside the work
    # dir, so the project root's lock stays inside the project)
    args.work_dir = work_dir(args.work_dir)  # --work-dir, else $PYSERINI_HYBRID_HOME, else the current directory
    with output_lock(args.work_dir / "results", "benchmark"):
        return run_benchmark(args, rows, argv)


def run_benchmark(args, rows, argv) -> int:
    work = args.work_dir  # resolved by benchmark() before it took the lock
    topics_dir = work / "topics"
    plan, skipped = select(args.datasets, args.languages, args.data_dir)
    for line in skipped:
        print(f"skipped: {line}", file=sys.stderr)
    results, timings, formats = {}, {}, {}
    for dataset, wanted in plan.items():
        t0 = time.time()
        lareqa = tp.dataset_spec(dataset, args.data_dir)["format"] == "lareqa"
        meta = convert(dataset, args.data_dir, topics_dir, languages=None if lareqa else wanted)
        formats[dataset] = meta["format"]
        langs = [x for x in meta["languages"] if not wanted or x in wanted or x == meta.get("pivot")]
        hits = args.hits or tp.default_hits(dataset) or DEFAULT_HITS
        for name, system, model in rows:
            run_dir = work / "runs" / name / dataset
            t1 = time.time()
            if system == "bm25":
                run_bm25(dataset, run_dir, langs, args.corpus, hits, args.threads,
                         work / "indexes" / "bm25", topics_dir, args.data_dir, args.force, args.prebuilt)
            elif system == "dense":
                run_dense(dataset, run_dir, model, langs, args.corpus, hits, args.threads,
                          index_root=work / "indexes" / "dense", topics_dir=topics_dir, data=args.data_dir,
                          force=args.force, precision=args.precision, shard_num=args.shard_num)
            else:
                dense_name = name.replace(system, "dense", 1)
                run_fusion(dataset, work / "runs" / dense_name / dataset, work / "runs" / "bm25" / dataset, run_dir,
                           system.split("-", 1)[1], depth=hits, force=args.force)
            t2 = time.time()
            result = evaluate_run_dir(dataset, run_dir, langs, topics_dir)
            timings[f"{dataset}/{name}"] = {"runs": round(t2 - t1, 1), "evaluation": round(time.time() - t2, 1)}
            write_outputs(result, run_dir / "eval", name)
            results[(name, dataset)] = result
        timings[dataset] = round(time.time() - t0, 1)
        print(f"{dataset}: done in {timings[dataset]} s")
    if not results:  # never replace an earlier summary with an empty one
        raise InputError("nothing was run: " + ("; ".join(skipped) or "no dataset selected"))
    write_summary(args, argv, results, formats, {"plan": plan, "skipped": skipped, "seconds": timings})
    return 0


def write_summary(args, argv, results: dict, formats: dict, done: dict) -> None:
    """results/summary.md (README's table) and summary.json (the figures, with what ran and how long)."""
    work = args.work_dir
    table = summary_table(results, formats)
    if any(s == "bm25" or s.startswith("fusion") for s, _ in results):  # BM25 differs by stack (docs/versions.md)
        table = table.rstrip("\n") + f"\n\nBM25 from {stack()}.\n"
    out = work / "results" / "summary.md"
    with atomic_write(out) as f:
        f.write(table)
    write_json(work / "results" / "summary.json",
               {"argv": sys.argv[1:] if argv is None else list(argv), "seconds": done["seconds"], "corpus": args.corpus,
                "hits": {d: args.hits or tp.default_hits(d) or DEFAULT_HITS for d in done["plan"]},
                "skipped": done["skipped"], "pyserini": stack(),
                "results": {f"{s}/{d}": {k: v for k, v in r.items() if k != "settings"}
                            for (s, d), r in results.items()}})
    print(table)
    print(f"wrote {out}")
