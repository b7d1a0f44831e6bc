"""The study: its file, and the --quick run end to end on the tiny model (every number from its JSON)."""

import json
import re
import time

import pytest

from pyserini_hybrid.core.errors import InputError
from pyserini_hybrid.core.files import PROJECT_ROOT
from pyserini_hybrid.study import training
from pyserini_hybrid.study.__main__ import main as study_main
from pyserini_hybrid.study.config import Study
from pyserini_hybrid.study.ledger import Timer

STUDY = PROJECT_ROOT / "studies" / "me5-small-cpu.toml"


def test_time_ledger_adds_innermost_blocks_across_invocations(tmp_path):
    ledger = tmp_path / "work" / "wall-seconds.json"
    first = Timer(ledger)
    with first("clean runs"):
        with first("clean: dense runs"):
            time.sleep(0.2)
    with first("training"):
        time.sleep(0.1)
    assert first.seconds["clean runs"] >= first.seconds["clean: dense runs"] >= 0.2
    assert set(first.totals()) == {"clean: dense runs", "training"}  # the outer block would count twice
    second = Timer(ledger)  # a resumed invocation adds to what the first left
    with second("clean: dense runs"):
        time.sleep(0.2)
    assert second.seconds == {"clean: dense runs": pytest.approx(0.2, abs=0.1)}
    assert second.totals()["clean: dense runs"] >= 0.4 and second.totals()["training"] >= 0.1


def test_study_file_loads_and_quick_overrides():
    full, quick = Study.load(STUDY), Study.load(STUDY, quick=True)
    assert set(full.variants) == {"X-X-mono", "X-Y", "hybrid"} and full.variants["hybrid"] == 0.5
    assert full.training_data == ["squad"] and len(full.seeds) >= 3  # equal data, seeds as a level of variance
    assert full.budgets[-1] >= 10 * full.budgets[0] and full.steps == full.budgets[-1] >= 580  # >= 2 epochs
    assert set(full.sweep["alphas"]) >= {0.25, 0.75} and full.native["datasets"]
    assert quick.quick and quick.steps < full.steps and quick.hits <= full.hits and len(quick.budgets) >= 2
    assert quick.adversarial["kinds"] and set(quick.adversarial["kinds"]) <= set(full.adversarial["kinds"])
    assert full.native_variants == list(full.variants) and quick.native_variants == ["hybrid"]


def test_study_recipe_uses_a_schedule_that_does_not_depend_on_the_total():
    full = Study.load(STUDY)
    base = training.base_recipe(full, None)
    assert base.train.schedule == "constant" and base.train.steps == full.steps
    assert base.train.export_steps == full.budgets[:-1] and base.data.datasets == ["squad"]


@pytest.mark.parametrize("change, message", [
    ("[variants]\nhybrid = 1.5\n", r"variants.hybrid must be a number \(alpha\) in \[0, 1\]"),
    ("[variants]\nhybrid = 0.5\n[sweep]\nalphas = [2.0]\n", r"\[sweep\] alphas must lie in \[0, 1\]"),
    ("[variants]\nhybrid = 0.5\n[native]\ndatasets = [\"squad2\"]\n", "unknown training dataset.*squad2"),
    ("[variants]\nmono = 1.0\n", "must include \"hybrid\""),
    ("[diversity]\nsets = [[\"en\", \"zh\"]]\n[variants]\nhybrid = 0.5\n", "two languages of a parallel"),
    ("[nonsense]\nx = 1\n", "unknown section"),
    ("[variants]\nhybrid = 0.5\n[native]\ndatasets = [\"arcd\"]\nvariants = [\"mono\"]\n",
     r"\[native\] variants: mono not in \[variants\]"),
    ("[quick]\nstpes = 1\n[variants]\nhybrid = 0.5\n", r"unknown key\(s\) in \[quick\]: stpes"),
    ("[adversarial]\nkind = [\"typos\"]\n[variants]\nhybrid = 0.5\n", r"unknown key\(s\) in \[adversarial\]: kind"),
    ("[variants]\nhybrid = \"half\"\n", "variants.hybrid must be a number"),
    ("[diversity]\ndatasets = [\"xquad\"]\n[variants]\nhybrid = 0.5\n", r"\[diversity\] datasets: unknown dataset\(s\) xquad"),
])
def test_bad_study_files_fail_with_one_line(tmp_path, change, message):
    path = tmp_path / "s.toml"
    path.write_text('[study]\nname = "x"\nrecipe = "encoders/me5-small-hybrid-cpu.toml"\nseeds = [1]\nbudgets = [2]\n'
                    'datasets = ["xquad-r"]\n' + change, encoding="utf-8")
    with pytest.raises(InputError, match=message):
        Study.load(path)


@pytest.mark.slow
def test_quick_study_end_to_end_on_the_tiny_model(tiny_multilingual, tmp_path):
    work, report_dir = tmp_path / "work", tmp_path / "report"
    args = [str(STUDY), "--quick", "--model", str(tiny_multilingual), "--work-dir", str(work),
            "--report-dir", str(report_dir)]
    assert study_main(args) == 0
    md = (report_dir / "report.md").read_text(encoding="utf-8")
    report = json.loads((report_dir / "report.json").read_text(encoding="utf-8"))

    # structure: every table and section, a p column, each robustness section with its plot
    for heading in ("## xquad-r: mAP (Table 1 layout), 4 steps", "## X→Y mAP heatmaps",
                    "## Unseen languages", "## Distant and low-resource pairs", "## Adversarial queries",
                    "## Budget curves", "## α sweep", "## +native ablation",
                    "## Validation on held-out training data", "## Recipe settings, chosen on held-out training data",
                    "## Models, data and time"):
        assert heading in md, heading
    assert "| system | xquad-r Mo AP | p |" in md
    for plot in ("unseen.png", "distance.png", "adversarial.png", "budget-curves.png", "alpha-sweep.png",
                 "validation-curves.png"):
        assert f"]({plot})" in md and (report_dir / plot).stat().st_size > 1000
    for image in re.findall(r"!\[[^\]]*\]\(([^)]+)\)", md):
        assert (report_dir / image).is_file(), image
    assert f"python -m pyserini_hybrid.study studies/{STUDY.name} --quick" in md
    # portable: no path of this machine in the report (the cache is "<cache>", the project relative)
    for text in (md, (report_dir / "report.json").read_text(encoding="utf-8")):
        assert str(tmp_path) not in text and str(PROJECT_ROOT) not in text

    # 3 variants x 2 seeds, the alpha sweep (1), +native for the quick run's one batching ([quick] native_variants)
    assert len(report["models"]) == 8 and "hybrid +native seed 1" in report["models"]
    assert set(report["tables"]["native"]) == {"hybrid", "hybrid +native"}
    assert all(m["steps"] == 4 for m in report["models"].values())
    assert report["models"]["hybrid seed 1"]["budgets"] == [2, 4]
    # equal data: every batching drew only SQuAD batches, +native also the native sets
    assert set(report["models"]["X-X-mono seed 1"]["drawn_datasets"]) == {"squad"}
    assert set(report["models"]["X-Y seed 1"]["drawn_datasets"]) == {"squad"}
    # settings were chosen on held-out training data, the choice applied to every model
    sel = report["selection"]
    assert len(sel) == 2 and sum(r["chosen"] for r in sel.values()) == 1
    chosen = next(r for r in sel.values() if r["chosen"])
    assert chosen["mean"] == max(r["mean"] for r in sel.values()) and report["recipe"]["train"]["lr"] == chosen["lr"]
    main = report["tables"]["main"]
    for system in ("BM25", "mE5-small", "X-X-mono", "X-Y", "hybrid", "BM25+mE5-small", "BM25+hybrid"):
        assert "xquad-r Mo AP" in main[system], system
    assert main["hybrid"]["xquad-r Mo AP"]["seeds"] == 2 and main["hybrid"]["xquad-r Mo AP"]["sd"] is not None
    # (+native may draw only SQuAD in 4 steps; its data holds the native sets)
    assert any(k.startswith("arcd/") for k in report["data"]["hybrid +native"]["pairs"])
    assert not any(k.startswith("arcd/") for k in report["data"]["hybrid"]["pairs"])
    # per variant, "seen" languages are the ones its batches drew (4 steps: a subset of the SQuAD languages)
    unseen = report["tables"]["unseen"]
    seen = {m.group(1) for k in unseen for m in [re.search(r"\[hybrid: ([a-z+]+)\]", k)] if m}
    assert len(seen) == 1 and set(seen.pop().split("+")) <= {"en", "es", "it", "da"}  # only what it drew
    # budget curves: every budget, every seed
    curves = report["tables"]["curves"]
    assert set(curves["hybrid"]) == {"2", "4"} and curves["hybrid"]["2"]["xquad-r Mo AP"]["seeds"] == 2
    assert curves["hybrid"]["4"]["xquad-r Mo AP"]["mean"] == pytest.approx(main["hybrid"]["xquad-r Mo AP"]["mean"])
    assert list(report["tables"]["sweep"]) == ["0", "0.25", "0.5", "1"]
    # the headline counts the table's significant cells, in either direction
    h = report["headline"]
    assert h["cells"] == 3 and set(h["against"]) == {"X-X-mono", "X-Y"}
    for base, counts in h["against"].items():
        cells = [main[base][f"xquad-r {g} AP"] for g in ("Mo", "Cr", "Mul")]
        sig = [c["diff_hybrid_minus"] for c in cells if c["p_holm"] < 0.05]
        assert all(c["p_holm"] >= c["p_vs_hybrid"] for c in cells)  # Holm only ever raises a p-value
        assert counts == {"significant_wins": sum(d > 0 for d in sig), "significant_losses": sum(d < 0 for d in sig)}
    assert md.count("**Headline.**") == 1
    c = main["BM25"]["xquad-r Cr AP"]
    assert c["ci_hybrid_minus"][0] <= c["diff_hybrid_minus"] <= c["ci_hybrid_minus"][1]
    # the tested difference is the difference of the two cells the table shows (macro averages over settings)
    assert c["diff_hybrid_minus"] == pytest.approx(main["hybrid"]["xquad-r Cr AP"]["mean"] - c["mean"])

    # the table's cells are recomputed from the run directories' evaluation files alone (the evaluate command)
    seeds = []
    for d in [work / "runs" / "clean" / "dense" / f"hybrid-{seed}" / "xquad-r" / "eval" / "results.json" for seed in (1, 2)]:
        settings = json.loads(d.read_text())["settings"]
        seeds.append(sum(settings[f"{x}-{y}"]["AP"] for x in ("de", "en") for y in ("de", "en") if x != y) / 2)
    assert len(seeds) == 2 and main["hybrid"]["xquad-r Cr AP"]["mean"] == pytest.approx(sum(seeds) / 2)
    assert main["hybrid"]["xquad-r Cr AP"]["values"] == pytest.approx(seeds)

    # the adversarial table's clean side is the main runs (same languages here, so not run twice)
    adv = report["tables"]["adversarial"]
    hybrid_1 = json.loads((work / "runs" / "clean" / "dense" / "hybrid-1" / "xquad-r" / "eval" / "results.json").read_text())
    assert adv["code_switch: hybrid"]["Mo clean"]["mean"] == pytest.approx(
        sum(hybrid_1["settings"][f"{x}-{x}"]["AP"] for x in ("de", "en")) / 2)
    assert not (work / "runs" / "adv-clean").exists() and (work / "runs" / "adv-code_switch").is_dir()

    # and report.json's numbers are the evaluation's: BM25 Mo mAP = mean AP over the mono settings
    bm25 = json.loads((work / "runs" / "clean" / "bm25" / "xquad-r" / "eval" / "results.json").read_text())
    mono = [bm25["settings"][f"{x}-{x}"]["AP"] for x in ("de", "en")]
    assert main["BM25"]["xquad-r Mo AP"]["mean"] == pytest.approx(sum(mono) / 2)

    # a second run reuses every model, run and evaluation
    before = {p: p.stat().st_mtime for p in (work / "runs").rglob("*.trec")}
    assert study_main(args) == 0
    assert {p: p.stat().st_mtime for p in (work / "runs").rglob("*.trec")} == before
    # and the time ledger still holds what the first run spent, where this report says so
    again = json.loads((report_dir / "report.json").read_text(encoding="utf-8"))
    assert again["seconds_all_invocations"]["sum"] >= report["seconds_all_invocations"]["sum"] > 0
    assert again["seconds"]["total"] < report["seconds"]["total"]
    assert "summed over every invocation" in (report_dir / "report.md").read_text(encoding="utf-8")
    # training time comes from the model cards, so a rerun that trained nothing still reports what training cost
    total = report["train_seconds_all_models"]
    assert again["train_seconds_all_models"] == total > 0
    assert total == pytest.approx(sum(m["train_seconds"] for m in report["models"].values()), abs=0.1)
