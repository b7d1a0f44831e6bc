"""Evaluation with ir-measures: per-setting measures, the paper's macro averages, and rank distance.

A *run directory* holds one TREC run per candidate language (``<Y>.trec``, all query languages in it)
and, for LAReQA sets, ``pool.trec`` against the multilingual pool. Every retrieval system we ship
(BM25, dense, fusion) writes that layout, so one evaluator serves them all.

- X->Y setting: run ``<Y>.trec`` restricted to the queries of language X that have qrels X-Y.
- Mo = mean over X of X->X; Cr = mean over X != Y of X->Y; Mul = mean over X of X->pool.
- Rank distance (language bias, on the pool): per query, max rank - min rank over its relevant
  candidates (one per language holding the question); mean over queries, macro-averaged over X.
- Queries with qrels but no line in the run score 0 (ir-measures, like trec_eval, would skip them);
  a relevant candidate missing from a run of depth d counts at rank d + 1. Both are reported.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from . import topics as tp
from .errors import InputError, cli
from .files import atomic_write, write_json
from .runs import ranked, read_run

MEASURES = ["AP", "R@1", "R@10", "nDCG@10", "R@100", "RR@10"]
MACROS = ("Mo", "Cr", "Mul")


def load_qrels_df(paths: list[Path]) -> pd.DataFrame:
    frames = []
    for path in paths:
        q = tp.read_qrels(path)
        frames.append(pd.DataFrame([(qid, d, r) for qid, docs in q.items() for d, r in docs.items()],
                                   columns=["query_id", "doc_id", "relevance"]))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["query_id", "doc_id", "relevance"])


def per_query(run: pd.DataFrame, qrels: pd.DataFrame, measures=MEASURES) -> pd.DataFrame:
    """One row per query *in the qrels* and one column per measure; queries absent from the run get 0."""
    import ir_measures

    parsed = [ir_measures.parse_measure(m) for m in measures]
    names = {m: str(m) for m in parsed}
    run = ranked(run[run["query_id"].isin(set(qrels["query_id"]))])
    run = up_to_last_relevant(run, qrels)
    # ir_measures' providers break score ties differently (pytrec_eval: docid descending, the msmarco
    # provider behind RR@10: ascending); strictly decreasing scores from one ranking make them agree
    run = run.assign(score=-run["rank"].astype(float))
    rows = {}
    if len(run):
        for r in ir_measures.iter_calc(parsed, qrels, run[["query_id", "doc_id", "score"]]):
            rows.setdefault(r.query_id, {})[names[r.measure]] = r.value
    qids = sorted(set(qrels.loc[qrels["relevance"] > 0, "query_id"]))
    table = pd.DataFrame.from_dict(rows, orient="index").reindex(index=qids, columns=list(measures)).fillna(0.0)
    table.index.name = "query_id"
    return table


def up_to_last_relevant(run: pd.DataFrame, qrels: pd.DataFrame) -> pd.DataFrame:
    """Each query's ranking cut after its last retrieved relevant candidate (its first row if none).

    Exact for every measure we report: AP, R@k, nDCG@k and RR@k only sum over relevant candidates at
    their ranks, and the ranks before the cut are unchanged. A 1,000-deep dense run of XQuAD-R is 13M
    lines with its relevant candidate near the top, so ir_measures then reads thousands of lines, not
    millions (it converts every line to Python objects)."""
    rel = qrels.loc[qrels["relevance"] > 0, ["query_id", "doc_id"]]
    hit = run[["query_id", "doc_id", "rank"]].merge(rel, on=["query_id", "doc_id"], how="inner")
    last = hit.groupby("query_id")["rank"].max()
    cut = run["query_id"].map(last).fillna(1)
    return run[run["rank"] <= cut]


def rank_distance(run: pd.DataFrame, qrels: pd.DataFrame, depth: int) -> pd.DataFrame:
    """Per query: max - min rank of its relevant candidates (missing ones at depth + 1).

    Undefined (NaN) for a query with fewer than two relevant candidates, or with all of them missing
    from the run: a distance of 0 there would read as "no language bias". Written with pandas rather
    than as an ir_measures ``define_byquery`` measure because it needs the run's depth for missing
    candidates, which a per-query measure cannot see.
    """
    rel = qrels[qrels["relevance"] > 0][["query_id", "doc_id"]]
    merged = rel.merge(ranked(run)[["query_id", "doc_id", "rank"]], on=["query_id", "doc_id"], how="left")
    merged["missing"] = merged["rank"].isna() | (merged["rank"] > depth)
    merged["rank"] = merged["rank"].where(~merged["missing"], depth + 1)
    g = merged.groupby("query_id")
    out = pd.DataFrame({"rank_distance": (g["rank"].max() - g["rank"].min()).astype(float),
                        "missing": g["missing"].sum(), "relevant": g.size()})
    undefined = (out["relevant"] < 2) | (out["missing"] == out["relevant"])
    out.loc[undefined, "rank_distance"] = np.nan
    return out


def run_depth(run_dir: Path) -> int | None:
    """The depth the runs were made with (run-meta.json's hits), if recorded."""
    meta = run_dir / "run-meta.json"
    if meta.is_file():
        hits = json.loads(meta.read_text(encoding="utf-8")).get("hits")
        if hits:
            return int(hits)
    return None


def query_language(qid: str, languages: list[str], fallback: str) -> str:
    head = qid.split("-", 1)[0]
    return head if head in languages else fallback


def _check_run_matches(path: Path, run: pd.DataFrame, known_qids: set[str], dataset: str) -> None:
    qids = set(run["query_id"])
    stray = sorted(qids - known_qids)
    if stray:
        raise InputError(f"{path}: {len(stray)} of {len(qids)} query ids are not {dataset} topics "
                         f"(e.g. {stray[0]!r}); was it made from other topics?")


def evaluate_run_dir(dataset: str, run_dir: Path, languages=None, topics_dir: Path | None = None,
                     depth: int | None = None) -> dict:
    """Measures for every setting whose run file exists in ``run_dir``."""
    meta = tp.load_meta(dataset, topics_dir)
    if not run_dir.is_dir():
        raise InputError(f"{run_dir}: run directory not found")
    if not languages and (run_dir / "run-meta.json").is_file():  # the languages the runs were made for
        languages = json.loads((run_dir / "run-meta.json").read_text(encoding="utf-8")).get("languages")
    langs = tp.check_languages(dataset, languages)
    known = set()
    for lang in meta["languages"]:
        known |= {line.split("\t", 1)[0] for line in
                  tp.topics_path(dataset, lang, topics_dir).read_text(encoding="utf-8").splitlines() if line}
    targets = [y for y in langs if (run_dir / f"{y}.trec").is_file()]
    if meta["format"] == "lareqa" and (run_dir / f"{tp.POOL}.trec").is_file():
        targets.append(tp.POOL)
    if not targets:
        raise InputError(f"{run_dir}: no run files for {dataset} (expected <lang>.trec, e.g. {langs[0]}.trec)")

    settings, per_query_tables = {}, {}
    meta_depth = run_depth(run_dir)
    depth, rank_distances = depth or meta_depth or 0, None
    # one run in memory at a time: a 1,000-deep XQuAD-R run is 13M lines, about a minute each on 2 cores
    for target in tqdm(targets, desc=f"evaluate {run_dir.parent.name}/{run_dir.name}", unit="run"):
        path = run_dir / f"{target}.trec"
        run = read_run(path)
        _check_run_matches(path, run, known, dataset)
        if not meta_depth and len(run):
            depth = max(depth, int(run.groupby("query_id").size().max()))
        query_langs = langs if meta["format"] == "lareqa" else [target]
        qrel_files = {x: tp.qrels_path(dataset, x, target, topics_dir) for x in query_langs}
        qrel_files = {x: p for x, p in qrel_files.items() if p.is_file()}
        if not qrel_files:
            continue
        qrels = load_qrels_df(list(qrel_files.values()))
        if target == tp.POOL:  # the pool holds only the evaluated languages' candidates
            qrels = qrels[qrels["doc_id"].str.split("-", n=1).str[0].isin(langs)]
        if not set(run["query_id"]) & set(qrels["query_id"]):
            raise InputError(f"{path}: no query of the run has {dataset} qrels for candidates in {target} "
                             "(run and topics do not match)")
        table = per_query(run, qrels)
        table["lang"] = [query_language(q, langs, target) for q in table.index]
        present = set(run["query_id"])
        for x in qrel_files:
            sub = table[table["lang"] == x]
            key = f"{x}-{target}"
            settings[key] = {**{m: float(sub[m].mean()) for m in MEASURES}, "queries": int(len(sub)),
                             "queries_without_hits": int(sum(q not in present for q in sub.index))}
            per_query_tables[key] = sub.drop(columns="lang")
        if target == tp.POOL:
            rank_distances = rank_distance(run, qrels, depth)  # the pool is the last target
        del run

    result = {"dataset": dataset, "run_dir": str(run_dir), "depth": depth, "measures": MEASURES,
              "languages": langs, "settings": settings, "macro": macro_averages(settings, langs)}
    if rank_distances is not None:
        rd = rank_distances
        rd["lang"] = [query_language(q, langs, "") for q in rd.index]
        defined = rd.dropna(subset=["rank_distance"])
        per_lang = {x: float(defined.loc[defined["lang"] == x, "rank_distance"].mean())
                    for x in langs if (defined["lang"] == x).any()}
        result["rank_distance"] = {
            "per_language": per_lang, "macro": float(np.mean(list(per_lang.values()))) if per_lang else None,
            "relevant_missing_from_run": int(rd["missing"].sum()), "relevant_total": int(rd["relevant"].sum()),
            "queries": int(len(defined)), "queries_undefined": int(len(rd) - len(defined)),
            "note": f"relevant candidates missing from the run are counted at rank {depth + 1} (depth + 1); "
                    "queries with fewer than two relevant candidates, or none of them in the run, are left out",
        }
    result["per_query"] = per_query_tables
    return result


def macro_averages(settings: dict, langs: list[str]) -> dict:
    groups = {"Mo": [f"{x}-{x}" for x in langs],
              "Cr": [f"{x}-{y}" for x in langs for y in langs if x != y],
              "Mul": [f"{x}-{tp.POOL}" for x in langs]}
    out = {}
    for name, keys in groups.items():
        keys = [k for k in keys if k in settings]
        if keys:
            out[name] = {m: float(np.mean([settings[k][m] for k in keys])) for m in MEASURES}
            out[name]["settings"] = len(keys)
    return out


# ---------------------------------------------------------------------------------------------
# Output: JSON, Markdown, heatmap


def markdown(result: dict, system: str = "") -> str:
    title = f"{system} on {result['dataset']}" if system else result["dataset"]
    lines = [f"## {title}", "", f"Run depth {result['depth']}; {result['run_dir']}", ""]
    if result["macro"]:
        lines += ["| average | settings | " + " | ".join(MEASURES) + " |", "|---|---:|" + "---:|" * len(MEASURES)]
        for name, vals in result["macro"].items():
            lines.append(f"| {name} | {vals['settings']} | " + " | ".join(f"{vals[m]:.4f}" for m in MEASURES) + " |")
        lines.append("")
    if "rank_distance" in result:
        rd = result["rank_distance"]
        macro = f"{rd['macro']:.1f}" if rd["macro"] is not None else "undefined"
        lines += [f"Rank distance (pool, macro over query languages): **{macro}** over {rd['queries']} queries "
                  f"({rd['queries_undefined']} left out: fewer than two relevant candidates, or none retrieved); "
                  f"{rd['relevant_missing_from_run']} of {rd['relevant_total']} relevant candidates were "
                  f"missing from the run and counted at rank {result['depth'] + 1}.", ""]
    lines += ["| setting | queries | " + " | ".join(MEASURES) + " |", "|---|---:|" + "---:|" * len(MEASURES)]
    for key, vals in result["settings"].items():
        lines.append(f"| {key} | {vals['queries']} | " + " | ".join(f"{vals[m]:.4f}" for m in MEASURES) + " |")
    return "\n".join(lines) + "\n"


def heatmap(result: dict, path: Path, measure: str = "AP", title: str = "") -> Path | None:
    """Query language (rows) x candidate language (columns, plus the pool) matrix of ``measure``."""
    langs = result["languages"]
    cols = langs + ([tp.POOL] if any(k.endswith(f"-{tp.POOL}") for k in result["settings"]) else [])
    if not any(f"{x}-{y}" in result["settings"] for x in langs for y in langs if x != y):
        return None  # monolingual-only sets (MIRACL) have no matrix to show
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    m = np.full((len(langs), len(cols)), np.nan)
    for i, x in enumerate(langs):
        for j, y in enumerate(cols):
            if f"{x}-{y}" in result["settings"]:
                m[i, j] = result["settings"][f"{x}-{y}"][measure]
    fig, ax = plt.subplots(figsize=(max(4.5, 1.5 + 0.6 * len(cols)), max(3.5, 1.2 + 0.55 * len(langs))))
    im = ax.imshow(m, vmin=0, vmax=1, cmap="viridis")
    ax.set_xticks(range(len(cols)), cols)
    ax.set_yticks(range(len(langs)), langs)
    ax.set_xlabel("candidate language")
    ax.set_ylabel("query language")
    for i in range(len(langs)):
        for j in range(len(cols)):
            if not np.isnan(m[i, j]):
                label = f"{m[i, j]:.2f}"
                ax.text(j, i, label[1:] if label.startswith("0") else label, ha="center", va="center",
                        fontsize=7, color="white" if m[i, j] < 0.5 else "black")
    ax.set_title(title or f"m{measure} {result['dataset']}", fontsize=10)
    fig.colorbar(im, ax=ax, fraction=0.04)
    fig.tight_layout()
    with atomic_write(path, "wb") as f:
        fig.savefig(f, format="png", dpi=120)
    plt.close(fig)
    return path


def write_outputs(result: dict, output: Path, system: str) -> dict[str, Path]:
    output.mkdir(parents=True, exist_ok=True)
    per_query = result.pop("per_query", {})
    result = {**result, "system": system}
    paths = {"json": output / "results.json", "markdown": output / "results.md"}
    write_json(paths["json"], result)
    with atomic_write(paths["markdown"]) as f:
        f.write(markdown(result, system))
    if per_query:
        rows = pd.concat([t.assign(setting=k) for k, t in per_query.items()])
        with atomic_write(output / "per-query.tsv") as f:
            rows.reset_index().to_csv(f, sep="\t", index=False, float_format="%.6f")
        paths["per_query"] = output / "per-query.tsv"
    png = heatmap(result, output / "heatmap-map.png", "AP", f"mAP, {system} on {result['dataset']}")
    if png:
        paths["heatmap"] = png
    return paths


@cli
def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pyserini_hybrid.evaluate", description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", required=True, choices=list(tp.manifest()))
    parser.add_argument("--runs", type=Path, required=True, help="run directory (<lang>.trec, pool.trec)")
    parser.add_argument("--output", type=Path, help="results directory (default <runs>/eval)")
    parser.add_argument("--system", default=None, help="name shown in tables (default: the run directory's)")
    parser.add_argument("--languages", nargs="+")
    parser.add_argument("--depth", type=int, help="run depth (default: run-meta.json's hits)")
    parser.add_argument("--topics-dir", type=Path)
    args = parser.parse_args(argv)
    result = evaluate_run_dir(args.dataset, args.runs, args.languages, args.topics_dir, args.depth)
    system = args.system or args.runs.parent.name
    paths = write_outputs(result, args.output or args.runs / "eval", system)
    print(markdown(result, system))
    print("wrote " + ", ".join(str(p) for p in paths.values()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
