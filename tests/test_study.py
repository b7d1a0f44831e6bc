"""The study in units: its file, the unit list, and the --quick study run unit by unit on the tiny model, its
report assembled from the unit files alone."""

import functools
import gzip
import json
import re
import shutil
import subprocess
import sys

import pytest

from pyserini_hybrid.core.errors import InputError
from pyserini_hybrid.core.files import PROJECT_ROOT
from pyserini_hybrid.study import recipes
from pyserini_hybrid.study.__main__ import main as study_main
from pyserini_hybrid.study.config import Study
from pyserini_hybrid.study.report.headline import headline_sentence

STUDY = PROJECT_ROOT / "studies" / "me5-small-cpu.toml"


def test_study_file_loads_and_quick_overrides():
    full, quick = Study.load(STUDY), Study.load(STUDY, quick=True)
    assert set(full.variants) == {"X-X-mono", "X-Y", "hybrid"} and full.variants["hybrid"] == 0.5
    assert full.training_data == ["squad"] and len(full.seeds) >= 3  # equal data, seeds as a level of variance
    assert full.budgets[-1] >= 10 * full.budgets[0] and full.steps == full.budgets[-1] >= 580
    assert set(full.sweep.alphas) >= {0.25, 0.75} and full.native.datasets
    assert quick.quick and quick.steps < full.steps and quick.hits <= full.hits and len(quick.budgets) >= 2
    assert quick.adversarial.kinds and set(quick.adversarial.kinds) <= set(full.adversarial.kinds)
    # X-Y never draws a monolingual set, so X-Y +native would be X-Y itself: not in the ablation
    assert full.native_variants == ["X-X-mono", "hybrid"] and quick.native_variants == ["hybrid"]
    assert full.precision == "fp32"  # pinned: auto resolves differently on different CPUs
    assert full.selection.seed not in set(full.seeds) | set(full.sweep.seeds) | set(full.native.seeds)


def test_study_recipe_uses_a_schedule_that_does_not_depend_on_the_total():
    full = Study.load(STUDY)
    base = recipes.base_recipe(full, None)
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
    ("precision = \"auto\"\n[variants]\nhybrid = 0.5\n", r"\[study\] precision must be fp32 or bf16"),
    ("[variants]\nhybrid = 0.5\n[selection]\nseed = 1\nsteps = 2\n", r"\[selection\] seed must be .* no other run uses"),
    ("[variants]\nhybrid = 0.5\nX-Y = 0.0\n[native]\ndatasets = [\"arcd\"]\nvariants = [\"X-Y\"]\n",
     "X-Y has alpha 0 and never draws a monolingual set"),
    ("warmup_steps = 2\n[variants]\nhybrid = 0.5\n", "warmup_steps 2 must be below the largest budget"),
    # the second study's tables (issue 43)
    ("[variants]\nhybrid = 0.5\n[merge]\nweight = 1.5\n", r"\[merge\] weight must lie in \[0, 1\]"),
    ("[variants]\nhybrid = 0.5\n[merge]\nvariants = [\"mono\"]\n", r"\[merge\] variants: mono not in \[variants\]"),
    ("[variants]\nhybrid = 0.5\n[merge]\nweight = \"half\"\n", "merge.weight must be a number"),
    ("[variants]\nhybrid = 0.5\n[merge]\nseeds = [-1]\n", "merge.seeds: seeds are whole numbers"),
    ("split_datasets = [\"ntrx\"]\n[variants]\nhybrid = 0.5\n", r"split_datasets: unknown dataset\(s\) ntrx"),
])
def test_bad_study_files_fail_with_one_line(tmp_path, change, message):
    path = tmp_path / "s.toml"
    path.write_text('[study]\nname = "x"\nrecipe = "encoders/me5-small-hybrid-cpu.toml"\nseeds = [1]\nbudgets = [2]\n'
                    'datasets = ["xquad-r"]\n' + change, encoding="utf-8")
    with pytest.raises(InputError, match=message):
        Study.load(path)



def test_units_of_the_default_study(converted):
    """The unit list follows the study file: a selection unit per batching, the baselines, every batching x
    seed (seed-major, so one seed's batchings can share a machine), the sweep, +native (no X-Y) and diversity;
    the first seed's units carry MIRACL and the adversarial topics, the smaller budgets only the curve languages."""
    from pyserini_hybrid.study.units import plan_units

    study = Study.load(STUDY)
    units = plan_units(study, converted[1])
    names = [u.name for u in units]
    assert names[:4] == ["selection-x-x-mono", "selection-x-y", "selection-hybrid", "baselines"]
    assert names[4:7] == ["x-x-mono-seed42", "x-y-seed42", "hybrid-seed42"] and len(names) == len(set(names)) == 18
    assert "x-y-native-seed42" not in names and {"x-x-mono-native-seed42", "hybrid-native-seed42"} <= set(names)
    by = {u.name: u for u in units}
    assert all(by[f"selection-{n}"].seed == study.selection.seed for n in ("x-x-mono", "x-y", "hybrid"))
    first, later = by["hybrid-seed42"], by["hybrid-seed43"]
    assert {e["dataset"] for e in first.evaluations} == {"xquad-r", "mlqa-r", "miracl-mini"}
    assert "miracl-mini" not in {e["dataset"] for e in later.evaluations}
    assert {e["tag"] for e in first.evaluations} > {"clean"} and {e["tag"] for e in later.evaluations} == {"clean"}
    small = [e for e in later.evaluations if e["budget"] < study.steps]
    assert {e["budget"] for e in small} == set(study.budgets[:-1])
    assert all(e["dataset"] == "xquad-r" and e["languages"] == study.curve_languages["xquad-r"] for e in small)
    assert first.fusion and not by["x-y-seed42"].fusion  # BM25+hybrid is the fused row


def test_import_takes_finished_units_from_another_checkout(tmp_path, capsys):
    """``import`` copies another checkout's finished units (committed ones here) byte for byte, the training
    card's recipe path made relative; it skips what is here or unfinished and refuses another design at once."""
    from pyserini_hybrid.study.run.collect import import_units

    committed = PROJECT_ROOT / "reports" / "me5-small-cpu" / "units"
    mains = sorted(p.parent.name for p in committed.glob("*-seed*/training-card.json"))
    assert mains, "no committed main unit"
    other = tmp_path / "study-wt"
    (other / "pyproject.toml").parent.mkdir()
    (other / "pyproject.toml").write_text("")
    src = other / "reports" / "me5-small-cpu" / "units"
    for name in ("baselines", mains[0]):
        shutil.copytree(committed / name, src / name)
    card = json.loads((src / mains[0] / "training-card.json").read_text())
    card["recipe_file"] = str(other / "encoders" / "me5-small-hybrid-cpu.toml")  # as the worktree wrote it
    (src / mains[0] / "training-card.json").write_text(json.dumps(card, indent=2))
    (src / "x-y-seed44").mkdir()  # a unit still running there: no unit.json yet
    (src / "x-y-seed44" / "x-y.50.xquad-r.clean.ranks.tsv.gz").write_bytes(b"")
    here = tmp_path / "report"
    shutil.copytree(committed / "baselines", here / "units" / "baselines")
    assert study_main([str(STUDY), "--report-dir", str(here), "import", str(src.parent)]) == 0
    out = capsys.readouterr().out
    assert "skipped baselines: already here" in out and f"imported {mains[0]}" in out and "1 unit(s) imported" in out
    got = here / "units" / mains[0]
    assert sorted(p.name for p in got.iterdir()) == sorted(p.name for p in (committed / mains[0]).iterdir())
    assert json.loads((got / "training-card.json").read_text())["recipe_file"] == "encoders/me5-small-hybrid-cpu.toml"
    assert json.loads((got / "training-card.json").read_text()) == json.loads(
        (committed / mains[0] / "training-card.json").read_text())
    assert all((got / p.name).read_bytes() == p.read_bytes() for p in (committed / mains[0]).iterdir()
               if p.name != "training-card.json")
    assert not (here / "units" / "x-y-seed44").exists() and not list((here / "units").glob(".*"))
    # again: nothing to take
    assert import_units(Study.load(STUDY), src, here / "units") == []
    # a unit of another design (other code) is refused before anything is copied
    shutil.copytree(committed / mains[0], src / "x-y-seed45")
    other_design = json.loads((src / "x-y-seed45" / "unit.json").read_text())
    other_design["fingerprint"]["code"] = "0" * 16
    (src / "x-y-seed45" / "unit.json").write_text(json.dumps(other_design))
    shutil.rmtree(got)
    with pytest.raises(InputError, match=r"unit x-y-seed45 \(commit \w+\) has another design fingerprint \('code'"):
        import_units(Study.load(STUDY), src, here / "units")
    assert sorted(p.name for p in (here / "units").iterdir()) == ["baselines"]


class QuickStudy:
    """The --quick study on the tiny model, shared by the tests below and run lazily: each test asks for the units
    it checks, and the first to ask runs them. The whole run (12 units, about 5 min on 2 cores) is so split over
    several tests, none over the 5-minute bound, and each test still passes alone (it runs what it needs)."""

    def __init__(self, model, root):
        self.model, self.work, self.report_dir = str(model), root / "work", root / "report"
        self.units = self.report_dir / "units"
        self.base = [str(STUDY), "--quick", "--model", self.model, "--work-dir", str(self.work),
                     "--report-dir", str(self.report_dir)]

    @functools.cached_property
    def names(self) -> list[str]:
        """The units in the plan's order (converting the topic sets once)."""
        from pyserini_hybrid.study.__main__ import study_metas
        from pyserini_hybrid.study.units import plan_units

        study = Study.load(STUDY, True)
        return [u.name for u in plan_units(study, study_metas(study, self.work, None))]

    def ensure(self, *names: str) -> None:
        """Run the named units (every unit when none is named) that are not done yet, in the plan's order."""
        todo = [n for n in (names or self.names) if not (self.units / n / "unit.json").exists()]
        if todo:
            assert study_main(self.base + ["run", "--units", *todo]) == 0


@pytest.fixture(scope="module")
def quick_study(tiny_multilingual, tmp_path_factory):
    return QuickStudy(tiny_multilingual, tmp_path_factory.mktemp("quick-study"))


SELECTION = ("selection-x-x-mono", "selection-x-y", "selection-hybrid")
SEED1 = ("x-x-mono-seed1", "x-y-seed1", "hybrid-seed1")
SEED2 = ("x-x-mono-seed2", "x-y-seed2", "hybrid-seed2")


@pytest.mark.slow
def test_quick_study_plan_and_what_run_refuses_to_start(quick_study, tmp_path, capsys):
    """The unit list in order; a main unit waits for the selection units; a unit that cannot finish in the time
    given is not started (an empty report dir of its own: nothing may be written there)."""
    report_dir = tmp_path / "report"
    base = quick_study.base[:-1] + [str(report_dir)]
    assert study_main(base + ["plan", "--names"]) == 0
    names = capsys.readouterr().out.split()
    assert names == quick_study.names
    assert names[:4] == ["selection-x-x-mono", "selection-x-y", "selection-hybrid", "baselines"]
    assert study_main(base + ["run", "--units", "hybrid-seed1"]) == 0
    assert "skipped hybrid-seed1: waits for the selection units" in capsys.readouterr().out
    assert study_main(base + ["run", "--for-minutes", "0.001"]) == 0
    out = capsys.readouterr().out
    assert "skipped selection-x-x-mono: about" in out and "0 unit(s) run" in out
    assert not (report_dir / "units").exists() or not list((report_dir / "units").glob("*/unit.json"))


def _check_records_against_ir_measures(quick_study, cases):
    """Measures recomputed from a unit's records equal ir-measures on the original runs."""
    from pyserini_hybrid.evaluate.measures import MEASURES, evaluate_run_dir
    from pyserini_hybrid.evaluate.ranks import result_from_ranks
    from pyserini_hybrid.study.records import read_ranks

    units, topics = quick_study.units, quick_study.work / "topics"
    for unit, name, run_dir in cases:
        entry = next(e for e in json.loads((units / unit / "unit.json").read_text())["evaluations"]
                     if e["files"]["ranks"] == f"{name}.ranks.tsv.gz")
        langs = entry["languages"]
        want = evaluate_run_dir("xquad-r", quick_study.work / "runs" / run_dir, langs, topics)
        got, _ = result_from_ranks(read_ranks(units / unit / entry["files"]["ranks"]), entry["depth"], True, langs)
        assert want["settings"] and set(got["settings"]) == set(want["settings"])
        for key, row in want["settings"].items():
            for m in MEASURES:
                assert got["settings"][key][m] == pytest.approx(row[m], abs=1e-12), (unit, name, key, m)


@pytest.mark.slow
def test_quick_study_selection_and_baselines_units(quick_study):
    """The selection units and the baselines: BM25's records equal ir-measures and stop at the run's depth."""
    from pyserini_hybrid.study.records import read_ranks

    quick_study.ensure(*SELECTION, "baselines")
    _check_records_against_ir_measures(quick_study, [("baselines", "bm25.4.xquad-r.clean", "bm25/xquad-r/clean")])
    bm25 = read_ranks(quick_study.units / "baselines" / "bm25.4.xquad-r.clean.ranks.tsv.gz")
    assert bm25["rank"].isna().any() and (bm25["rank"].dropna() <= 100).all()
    grid = Study.load(STUDY, True).selection
    settings = len(grid.lr) * len(grid.temperature)
    for name in SELECTION:  # every batching tried every setting
        unit = json.loads((quick_study.units / name / "unit.json").read_text())
        assert settings > 1 and len(unit["selection"]) == settings, name


@pytest.mark.slow
def test_quick_study_first_seed_units(quick_study):
    """The first seed's main units: dense and fused records equal ir-measures at both budgets; dense records
    rank every relevant candidate (full ranking)."""
    from pyserini_hybrid.study.records import read_ranks

    quick_study.ensure(*SELECTION, "baselines", *SEED1)
    _check_records_against_ir_measures(quick_study, [
        ("hybrid-seed1", "hybrid.4.xquad-r.clean", "hybrid-seed1/hybrid/4/xquad-r/clean"),
        ("hybrid-seed1", "hybrid.2.xquad-r.clean", "hybrid-seed1/hybrid/2/xquad-r/clean"),
        ("hybrid-seed1", "bm25-hybrid.4.xquad-r.clean", "hybrid-seed1/fusion-hybrid/xquad-r")])
    units = quick_study.units
    hybrid = json.loads((units / "hybrid-seed1" / "unit.json").read_text())
    dense = next(e for e in hybrid["evaluations"] if e["system"] == "hybrid" and e["tag"] == "clean")
    ranks = read_ranks(units / "hybrid-seed1" / dense["files"]["ranks"])
    assert dense["full_ranks"] and ranks["rank"].notna().all() and dense["checks"]["beyond_depth"] > 0
    assert gzip.open(units / "hybrid-seed1" / "train-log.jsonl.gz").read()  # the training log is a record too


@pytest.mark.slow
def test_quick_study_second_seed_sweep_and_native_units(quick_study):
    """The second seed, the α sweep and +native: every batching and seed trains on the same data, the sweep at
    its α, +native on more; another seed is another model (seeds are a level of variance)."""
    from pyserini_hybrid.study.records import read_ranks

    quick_study.ensure(*SELECTION, "baselines", *SEED1, *SEED2, "alpha-0.25-seed1", "hybrid-native-seed1")
    _check_records_against_ir_measures(quick_study, [("x-y-seed2", "x-y.4.xquad-r.clean", "x-y-seed2/x-y/4/xquad-r/clean")])
    units = quick_study.units
    card = {n: json.loads((units / n / "training-card.json").read_text())
            for n in SEED1 + SEED2 + ("alpha-0.25-seed1", "hybrid-native-seed1")}
    assert [card[n]["recipe"]["train"]["seed"] for n in SEED1 + SEED2] == [1, 1, 1, 2, 2, 2]
    assert [card[n]["recipe"]["train"]["alpha"] for n in ("x-x-mono-seed1", "x-y-seed1", "hybrid-seed1",
                                                          "alpha-0.25-seed1")] == [1.0, 0.0, 0.5, 0.25]
    same = [card[n]["data"]["questions"] for n in SEED1 + SEED2 + ("alpha-0.25-seed1",)]
    assert same[0] and all(q == same[0] for q in same)
    native = card["hybrid-native-seed1"]["data"]["questions"]
    assert set(native) > set(same[0]) and all(native[k] == v for k, v in same[0].items())
    one, two = (read_ranks(units / f"hybrid-seed{s}" / "hybrid.4.xquad-r.clean.ranks.tsv.gz") for s in (1, 2))
    assert len(one) == len(two) and not one.equals(two)


@pytest.mark.slow
def test_quick_study_every_unit_once_even_with_two_runs(quick_study, capsys):
    """Every unit done and small; a second run finds nothing to run; two runs on one report dir: a unit another
    run holds is left to it, one it finished meanwhile is not redone."""
    from pyserini_hybrid.study.__main__ import plan_rows, run_units, study_metas

    quick_study.ensure()
    units, names = quick_study.units, quick_study.names
    capsys.readouterr()
    assert study_main(quick_study.base + ["plan"]) == 0
    plan = capsys.readouterr().out
    assert all(re.search(rf"^{re.escape(n)}\s+done\s", plan, re.M) for n in names), plan
    assert "left: 0 units" in plan
    for d in units.iterdir():  # small, committed results
        assert sum(p.stat().st_size for p in d.iterdir()) < 3 * 2**20, d.name
    assert study_main(quick_study.base + ["run"]) == 0  # every unit done, same design: nothing run, nothing refused
    assert "0 unit(s) run" in capsys.readouterr().out

    study = Study.load(STUDY, True)
    metas = study_metas(study, quick_study.work, None)
    rows, _ = plan_rows(study, units, metas)
    stale = [(u, "to do", m, None) for u, _, m, _ in rows]  # states read before the other run finished them
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time; from pyserini_hybrid.core.lock import "
                               "output_lock\nwith output_lock(sys.argv[1]):\n print('held', flush=True); "
                               "time.sleep(60)", str(units / "baselines")], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        assert run_units(study, (stale, metas), None, None, units, quick_study.work, None, quick_study.model) == 0
    finally:
        holder.kill()
    out = capsys.readouterr().out
    assert re.search(r"skipped baselines: .*baselines: in use by pid \d+", out), out
    assert out.count("done meanwhile") == len(rows) - 1 and "0 unit(s) run" in out


@pytest.mark.slow
def test_quick_study_report_from_the_units_alone(quick_study, tmp_path, capsys):
    """The report: every section, the answer, selection and decisions from the tables; the same bytes from a copy
    of the units with no cache; units of another design refused in one line; a missing unit makes it partial."""
    quick_study.ensure()
    units, report_dir, names = quick_study.units, quick_study.report_dir, quick_study.names
    assert study_main(quick_study.base + ["report"]) == 0
    md = (report_dir / "report.md").read_text(encoding="utf-8")
    report = json.loads((report_dir / "report.json").read_text(encoding="utf-8"))
    for heading in ("## xquad-r: mAP (Table 1 layout), 4 steps", "## X→Y mAP heatmaps", "## Unseen languages",
                    "## Distant and low-resource pairs", "## Adversarial queries", "## Budget curves", "## α sweep",
                    "## +native ablation", "## Validation on held-out training data",
                    "## Recipe settings, chosen on held-out training data", "## Language preference on the multilingual pool",
                    "## Models, data and time", "## Units: machines and time"):
        assert heading in md, heading
    for image in re.findall(r"!\[[^\]]*\]\(([^)]+)\)", md):
        assert (report_dir / image).stat().st_size > 1000, image
    for text in (md, (report_dir / "report.json").read_text(encoding="utf-8")):
        assert str(quick_study.work.parent) not in text and str(PROJECT_ROOT) not in text
    assert not report["partial"] and md.count("**Headline.**") == 1
    # the answer README quotes (the headline's table and sentences) and report.md's longer list: every part
    # computed from the tables just written
    answer = (report_dir / "answer.md").read_text(encoding="utf-8")
    assert answer.startswith("**The study's answer** (`python -m pyserini_hybrid.study studies/")
    for part in ("By budget", "α sweep: each mix's distance from the line", "+native minus without",
                 "Language preference"):
        assert part in md, part
    assert report["answer"]["units_done"] == len(report["units"]) and "headline" not in report["answer"]
    assert headline_sentence(report["headline"]) in md  # read from the report
    assert set(report["answer"]["budget"]["xquad-r Cr AP"]) == {"2", "4"}  # curve = every language: both budgets
    # selection: every batching tried every setting; one choice, the best mean over the batchings, for all
    sel = report["selection"]
    assert set(report["selection_units"]) == {"X-X-mono", "X-Y", "hybrid"}
    best = max(sel["table"].values(), key=lambda r: r["mean"])
    assert (sel["lr"], sel["temperature"]) == (best["lr"], best["temperature"])
    assert all(json.loads((units / n / "unit.json").read_text())["recipe"]["train"]["lr"] == sel["lr"]
               for n in ("x-x-mono-seed1", "hybrid-seed2", "alpha-0.25-seed1"))
    main = report["tables"]["main"]
    assert main["hybrid"]["xquad-r Mo AP"]["seeds"] == 2
    for base_name in ("X-X-mono", "X-Y"):  # pooled seed variance, paragraph clusters, a decision per cell
        c = main[base_name]["xquad-r Mo AP"]
        assert c["decision"] in ("better", "worse", "equivalent", "non-inferior", "undecided")
        assert c["clusters"] == 240  # XQuAD's paragraphs (about 5 questions each), not its 1,190 questions
    assert set(report["headline"]["claim"]) == {"xquad-r"}
    assert report["headline"]["claim"]["xquad-r"] in ("holds", "fails", "undecided")
    assert set(report["tables"]["language"]["hybrid"]) >= {"xquad-r own@10", "xquad-r rank correlation"}
    assert "rank correlation" not in " ".join(report["tables"]["language"]["BM25"])  # no full scores for BM25
    assert set(report["units"]) == set(names) and report["machine_hours"] > 0

    # the report from the units alone: no cache (the work directory hidden meanwhile), no run, same bytes
    first = (report_dir / "report.json").read_bytes()
    again, hidden = tmp_path / "again", quick_study.work.with_name("work-hidden")
    shutil.copytree(units, again / "units")
    quick_study.work.rename(hidden)
    try:
        assert study_main([str(STUDY), "--quick", "--report-dir", str(again), "report"]) == 0
    finally:
        hidden.rename(quick_study.work)
    assert (again / "report.json").read_bytes() == first
    # another study's answer beside this one (the committed first study): one key more, every other the same
    beside = PROJECT_ROOT / "reports" / "me5-small-cpu" / "report.json"
    assert study_main([str(STUDY), "--quick", "--report-dir", str(again), "report", "--beside", str(beside)]) == 0
    with_beside = json.loads((again / "report.json").read_text(encoding="utf-8"))
    assert with_beside.pop("beside")["report"] == "reports/me5-small-cpu/report.json"
    assert with_beside == json.loads(first)
    assert "## Beside me5-small-cpu" in (again / "report.md").read_text(encoding="utf-8")
    assert (again / "beside.png").stat().st_size > 1000
    assert (again / "answer.md").read_text(encoding="utf-8").splitlines()[-1].startswith("Beside the study `studies/")

    # units of another design are never mixed: one line naming the unit and the part
    path = again / "units" / "x-y-seed2" / "unit.json"
    unit = json.loads(path.read_text())
    unit["fingerprint"]["code"] = "0" * 16
    path.write_text(json.dumps(unit))
    with pytest.raises(SystemExit) as stop:  # the CLI's one-line error, exit 2
        study_main([str(STUDY), "--quick", "--report-dir", str(again), "report"])
    assert stop.value.code == 2
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert len(err) == 1 and "unit x-y-seed2: fingerprint part 'code' differs" in err[0]
    # nor are units of another design added: run refuses before any work, naming the unit and the commit
    fresh = tmp_path / "fresh-work"
    with pytest.raises(SystemExit) as stop:
        study_main([str(STUDY), "--quick", "--model", quick_study.model, "--work-dir", str(fresh), "--report-dir", str(again),
                    "run", "--units", "hybrid-seed1"])
    assert stop.value.code == 2 and not fresh.exists()  # nothing converted, locked or trained
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert len(err) == 1 and "unit x-y-seed2 (commit " in err[0] and "'code' differs" in err[0], err
    # and a missing unit makes the report partial, without a headline
    shutil.rmtree(again / "units" / "x-y-seed2")
    assert study_main([str(STUDY), "--quick", "--report-dir", str(again), "report"]) == 0
    partial = json.loads((again / "report.json").read_text())
    assert partial["partial"] and partial["missing_units"] == ["x-y-seed2"] and partial["headline"] is None
