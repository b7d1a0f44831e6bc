"""Fine-tune an encoder from a recipe: ``python -m pyserini_hybrid.train encoders/<recipe>.toml``.

    python -m pyserini_hybrid.train encoders/me5-small-hybrid-cpu.toml --output models/me5-hybrid
    python -m pyserini_hybrid.train encoders/me5-small-hybrid-cpu.toml --set train.alpha=1.0   # X-X-mono
    torchrun --nproc-per-node 2 -m pyserini_hybrid.train encoders/xlmr-base-hybrid.toml        # DDP
    python -m pyserini_hybrid.train data [--training-sets FILE]     # the declared training sets, counted
    python -m pyserini_hybrid.train merge --model DIR [--start DIR] [--weight 0.5]   # averaged with its start model

Running the same command again resumes from the newest checkpoint (or returns at once when finished).
The output directory is a model directory for ``--encoder-class hybrid``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..core.errors import cli
from ..core.files import data_dir, work_dir
from ..models.default_model import check_start_model
from . import data_report, merge, sets
from . import recipe as rc
from .pairs import load_pairs


def default_output(recipe: rc.Recipe, path: str, work: Path | None = None) -> Path:
    return work_dir(work) / "models" / f"{Path(path).stem}-{recipe.fingerprint()}"


def data_main(argv=None) -> int:
    """``train data``: the declared training sets, counted (``data_report``)."""
    parser = argparse.ArgumentParser(prog="python -m pyserini_hybrid.train data",
                                     description=data_report.__doc__.split("\n")[0])
    parser.add_argument("--training-sets", action="append", default=[], metavar="FILE",
                        help="a training-set declaration file (TOML or JSON); repeatable")
    parser.add_argument("--data-dir", help="data root (default ../shared/data)")
    parser.add_argument("--datasets", nargs="+", help="the sets to list (default: every declared set)")
    parser.add_argument("--languages", nargs="+", help="only these languages (as data.languages)")
    parser.add_argument("--decontaminate", nargs="+", default=[], metavar="TOPIC_SET",
                        help="evaluation sets to drop texts of (as data.decontaminate; default: every set in reach)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    args = parser.parse_args(argv)
    sets.register(args.training_sets)
    root = data_dir(args.data_dir)
    declared = sets.declared(root)
    names = args.datasets or list(declared)
    pairs = load_pairs(root, args.languages, names, quiet=args.quiet, decontaminate=args.decontaminate)
    print(data_report.render(pairs, declared, root))
    return 0


def merge_main(argv=None) -> int:
    """``train merge``: a fine-tuned model averaged in weight space with its start model (``merge``)."""
    parser = argparse.ArgumentParser(prog="python -m pyserini_hybrid.train merge",
                                     description=merge.__doc__.split("\n")[0])
    parser.add_argument("--model", type=Path, required=True, metavar="DIR", help="the fine-tuned model directory")
    parser.add_argument("--start", metavar="DIR|NAME",
                        help="the start model: a directory, 'default' (the embedded multilingual-e5-small) or a "
                             "hub id in the local cache (default: the model.name of the fine-tuned model's "
                             "training card, else 'default')")
    parser.add_argument("--weight", type=float, default=0.5,
                        help="the fine-tuned model's weight λ in [0, 1]: λ·fine-tuned + (1−λ)·start (default 0.5)")
    parser.add_argument("--output", type=Path, help="model directory (default: <work dir>/models/<model>-merge-<λ>)")
    parser.add_argument("--work-dir", type=Path, help="where models/ goes (default $PYSERINI_HYBRID_HOME, else the "
                                                       "current directory)")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    name = args.start or merge.recorded_start(args.model)
    check_start_model(name, "--start")
    output = args.output or work_dir(args.work_dir) / "models" / f"{args.model.resolve().name}-merge-{args.weight:g}"
    card = merge.merge_models(args.model, merge.start_dir(name), output, args.weight, start_name=name)
    if not args.quiet:
        print(f"merged {args.model} (weight {card['weight']:g}) with {name}: {card['tensors']} tensors")
        print(f"model: {output}")
    return 0


@cli
def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["data"] and not Path("data").is_file():
        return data_main(argv[1:])
    if argv[:1] == ["merge"] and not Path("merge").is_file():
        return merge_main(argv[1:])
    parser = argparse.ArgumentParser(prog="python -m pyserini_hybrid.train", description=__doc__.split("\n")[0])
    parser.add_argument("recipe", help="a TOML recipe, e.g. encoders/me5-small-hybrid-cpu.toml")
    parser.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                        help="override a recipe value, e.g. train.alpha=1.0 (X-X-mono) or train.alpha=0 (X-Y)")
    parser.add_argument("--output", type=Path, help="model directory (default: <work dir>/models/<recipe>-<fingerprint>)")
    parser.add_argument("--work-dir", type=Path, help="where models/ and indexes/ go (default $PYSERINI_HYBRID_HOME, "
                                                       "else the current directory)")
    parser.add_argument("--data-dir", help="data root holding qa-train/ and lareqa/ (default ../shared/data)")
    parser.add_argument("--training-sets", action="append", default=[], metavar="FILE",
                        help="a training-set declaration file (TOML or JSON) whose sets data.datasets may name")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    sets.register(args.training_sets)
    recipe = rc.load(args.recipe, args.set)
    # the sets the recipe names, their declarations and languages: one line before any work
    sets.choose(sets.declared(data_dir(args.data_dir)), recipe.data.datasets, f"{args.recipe}: data.datasets")
    output = args.output or default_output(recipe, args.recipe, args.work_dir)
    check_start_model(recipe.model.name)
    from .loop import train

    train(recipe, output, args.data_dir, args.quiet)  # holds the output's lock: one writer per output
    if not args.quiet:
        print(f"model: {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
