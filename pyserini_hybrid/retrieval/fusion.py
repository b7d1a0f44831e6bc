"""BM25 + dense fusion through ``python -m pyserini.fusion``, one fused run per run file.

Two run directories of the same dataset and languages (``<Y>.trec`` per candidate language, ``pool.trec``)
become a third one in the same layout, so ``evaluate`` serves it unchanged:

- ``rrf``: reciprocal rank fusion, ``--method rrf --rrf.k 60`` (Cormack et al. 2009's k).
- ``interpolation``: ``--method interpolation --alpha A`` = A·dense + (1−A)·BM25. Pyserini interpolates
  raw scores, and BM25 scores (tens) would swamp cosines (≤ 1), so each input run is first min-max
  normalised per query (a query with one hit gets 1, as in Pyserini's own ``normalize``). A = 0.5 by
  default: a fixed equal weight, not tuned on any evaluation set.

Named "fusion" because Pyserini's ``search.hybrid`` already means dense+sparse and our "hybrid" names
the training batches.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from tqdm import tqdm

from ..core.errors import InputError
from ..core.files import load_json, temp_dir_in, write_json
from ..core.trec import read_run, write_run
from ..data import topic_sets as tp
from ..pyserini_glue.mains import display, run_to_file
from .options import DEFAULT_HITS, FusionOptions, prune_runs, sole_writer

METHODS = ("rrf", "interpolation")
RRF_K = 60


def normalized(path: Path, output: Path) -> Path:
    """Per-query min-max normalised copy of a run (scores in [0, 1])."""
    run = read_run(path)
    g = run.groupby("query_id")["score"]
    low, high = g.transform("min"), g.transform("max")
    span = (high - low).where(high > low, 1.0)
    run = run.assign(score=((run["score"] - low) / span).where(high > low, 1.0))
    write_run(run, output, "minmax")
    return output


def fusion_args(runs: list[Path], output: Path, method: str, depth: int, alpha: float) -> list:
    args = ["--runs", *runs, "--output", output, "--method", method, "--depth", depth, "--k", depth,
            "--runtag", f"fusion-{method}"]
    return args + (["--rrf.k", RRF_K] if method == "rrf" else ["--alpha", alpha])


def run_fusion(*args, **kwargs) -> dict:
    """``write_runs(FusionOptions(...))`` for callers that pass the options loose (positionally in their old
    order, or by name)."""
    return write_runs(FusionOptions(*args, **kwargs))


def write_runs(opts: FusionOptions) -> dict:
    """Fuse two run directories; ``depth`` (default: the inputs' depth) must not exceed what the inputs hold,
    and inputs of different depths are refused (a 10-deep run fused with a 100-deep one is not one system).
    An input whose run-meta.json does not record its depth is measured (its deepest query). The output
    records its depth and its inputs' metas; one writer per ``output``."""
    dataset, dense_dir, sparse_dir = opts.dataset, opts.dense_dir, opts.sparse_dir
    method, alpha = opts.method, opts.alpha
    if method not in METHODS:
        raise InputError(f"unknown fusion method {method!r}; choose {' or '.join(METHODS)}")
    if not 0.0 <= alpha <= 1.0:
        raise InputError(f"--alpha {alpha}: must lie in [0, 1]")
    metas = {}
    for name, d in (("dense", dense_dir), ("sparse", sparse_dir)):
        if not (d / "run-meta.json").is_file():
            raise InputError(f"{d}: no run-meta.json (not a complete run directory; run the {name} system first)")
        metas[name] = load_json(d / "run-meta.json")
        if metas[name].get("dataset") != dataset:
            raise InputError(f"{d}: runs of {metas[name].get('dataset')!r}, not {dataset}")
    langs = metas["dense"]["languages"]
    if metas["sparse"]["languages"] != langs:
        raise InputError(f"{dense_dir} and {sparse_dir} cover different languages "
                         f"({' '.join(langs)} vs {' '.join(metas['sparse']['languages'])})")
    depths = {name: m.get("hits") for name, m in metas.items()}
    for name, d in (("dense", dense_dir), ("sparse", sparse_dir)):
        if depths[name] is None:  # not recorded: what the run files hold
            depths[name] = measured_depth([d / f"{y}.trec" for y in langs])
    if None not in depths.values() and depths["dense"] != depths["sparse"]:
        raise InputError(f"{dense_dir} is {depths['dense']} deep and {sparse_dir} {depths['sparse']} deep: "
                         "fuse runs of one depth")
    known, depth = depths["dense"] or depths["sparse"], opts.depth
    if depth is None:
        depth = known or DEFAULT_HITS
    elif known is not None and depth > known:
        raise InputError(f"--hits {depth}: the input runs are only {known} deep")
    # the pool where the dense runs have one, unless the sparse ones have none by design (NTREX: BM25 has no pool)
    pool = (dense_dir / f"{tp.POOL}.trec").is_file() and metas["sparse"].get("pool", "") is not None
    targets = [f"{y}.trec" for y in langs] + ([f"{tp.POOL}.trec"] if pool else [])
    for t in targets:
        for d in (dense_dir, sparse_dir):
            if not (d / t).is_file():
                raise InputError(f"{d / t}: missing (both run directories need every run file)")
    info = {"system": f"fusion-{method}", "dataset": dataset, "languages": langs, "hits": depth, "method": method,
            "alpha": alpha if method == "interpolation" else None, "rrf_k": RRF_K if method == "rrf" else None,
            "inputs": {"dense": str(dense_dir), "sparse": str(sparse_dir)},
            "input_meta": {k: {**{x: v.get(x) for x in ("system", "model_key", "hits", "data", "languages",
                                                         "corpus_variant")}, "hits": depths[k]}
                           for k, v in metas.items()}}
    with sole_writer(opts.output, "fusion"):
        return _write_fusion(opts, info, targets)


def measured_depth(runs: list[Path]) -> int | None:
    """The most hits any query has in these run files (None when they are empty or missing)."""
    deepest = 0
    for path in runs:
        if path.is_file():
            counts = read_run(path).groupby("query_id").size()
            deepest = max(deepest, int(counts.max()) if len(counts) else 0)
    return deepest or None


def _write_fusion(opts: FusionOptions, info: dict, targets: list[str]) -> dict:
    """The fused run files and run-meta.json (``info``: the meta without its commands; ``info["hits"]``: the
    depth fused), unless they are up to date and newer than both inputs' metas."""
    output, method, depth, alpha = opts.output, opts.method, info["hits"], opts.alpha
    output.mkdir(parents=True, exist_ok=True)
    previous = output / "run-meta.json"
    if not opts.force and previous.is_file() and \
            {k: v for k, v in load_json(previous).items() if k != "commands"} == info and \
            all((output / t).is_file() for t in targets) and \
            all(previous.stat().st_mtime >= (d / "run-meta.json").stat().st_mtime
                for d in (opts.dense_dir, opts.sparse_dir)):
        print(f"fusion {method} {opts.dataset}: runs up to date in {output}")
        return load_json(previous)
    previous.unlink(missing_ok=True)
    prune_runs(output, set(targets))
    log, commands = output / "pyserini.log", []
    tmp = temp_dir_in(output, "norm")
    try:
        for t in tqdm(targets, desc=f"fusion {method} {opts.dataset}", unit="run"):
            runs = [opts.dense_dir / t, opts.sparse_dir / t]
            if method == "interpolation":
                runs = [normalized(r, tmp / f"{kind}-{t}") for r, kind in zip(runs, ("dense", "sparse"))]
            run_to_file("pyserini.fusion", lambda o: fusion_args(runs, o, method, depth, alpha), output / t, log)
            commands.append(display("pyserini.fusion", fusion_args(runs, output / t, method, depth, alpha)))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    info["commands"] = commands
    write_json(previous, info)
    return info
