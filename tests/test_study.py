"""The study: its file, and the --quick run end to end on the tiny model (every number from its JSON)."""

import json
import re
import time

import pytest

from pyserini_hybrid import study as st
from pyserini_hybrid.errors import InputError
from pyserini_hybrid.files import PROJECT_ROOT
from pyserini_hybrid.significance import format_p

STUDY = PROJECT_ROOT / "studies" / "me5-small-cpu.toml"


def test_time_ledger_adds_innermost_blocks_across_invocations(tmp_path):
    ledger = tmp_path / "work" / "wall-seconds.json"
    first = st.Timer(ledger)
    with first("clean runs"):
        with first("clean: dense runs"):
            time.sleep(0.2)
    with first("training"):
        time.sleep(0.1)
    assert first.seconds["clean runs"] >= first.seconds["clean: dense runs"] >= 0.2
    assert set(first.totals()) == {"clean: dense runs", "training"}  # the outer block would count twice
    second = st.Timer(ledger)  # a resumed invocation adds to what the first left
    with second("clean: dense runs"):
        time.sleep(0.2)
    assert second.seconds == {"clean: dense runs": pytest.approx(0.2, abs=0.1)}
    assert second.totals()["clean: dense runs"] >= 0.4 and second.totals()["training"] >= 0.1


def test_study_file_loads_and_quick_overrides():
    full, quick = st.Study.load(STUDY), st.Study.load(STUDY, quick=True)
    assert set(full.variants) == {"X-X-mono", "X-Y", "hybrid"} and full.variants["hybrid"] == 0.5
    assert len(full.seeds) >= 2
    assert quick.quick and quick.steps < full.steps and quick.hits <= full.hits
    assert quick.adversarial["kinds"] and set(quick.adversarial["kinds"]) <= set(full.adversarial["kinds"])
    assert st.runs_on(full, "hybrid", full.seeds[0], "miracl-mini") and st.runs_on(full, "X-Y", full.seeds[1], "mlqa-r")
    assert not st.runs_on(full, "X-Y", full.seeds[1], "miracl-mini")
    assert not st.runs_on(full, "hybrid [en+es]", full.seeds[0], "mlqa-r")


@pytest.mark.parametrize("change, message", [
    ("[variants]\nhybrid = 1.5\n", "alpha must lie in"),
    ("[variants]\nmono = 1.0\n", "must include \"hybrid\""),
    ("[diversity]\nsets = [[\"en\", \"zh\"]]\n[variants]\nhybrid = 0.5\n", "two languages of a parallel"),
    ("[nonsense]\nx = 1\n", "unknown section"),
    ("[diversity]\ndatasets = [\"xquad\"]\n[variants]\nhybrid = 0.5\n", r"\[diversity\] datasets: unknown dataset\(s\) xquad"),
])
def test_bad_study_files_fail_with_one_line(tmp_path, change, message):
    path = tmp_path / "s.toml"
    path.write_text('[study]\nname = "x"\nrecipe = "encoders/me5-small-hybrid-cpu.toml"\nseeds = [1]\nsteps = 2\n'
                    'datasets = ["xquad-r"]\n' + change, encoding="utf-8")
    with pytest.raises(InputError, match=message):
        st.Study.load(path)


def _formatted(obj, out: set) -> set:
    """Every number of report.json in each format the report prints numbers with."""
    if isinstance(obj, dict):
        for v in obj.values():
            _formatted(v, out)
    elif isinstance(obj, list):
        for v in obj:
            _formatted(v, out)
    elif isinstance(obj, (int, float)) and not isinstance(obj, bool):
        for digits in (1, 2, 4):
            out.add(f"{obj:.{digits}f}")
        out.add(format_p(obj))
    return out


@pytest.mark.slow
def test_quick_study_end_to_end_on_the_tiny_model(tiny_multilingual, tmp_path):
    work, report_dir = tmp_path / "work", tmp_path / "report"
    args = [str(STUDY), "--quick", "--model", str(tiny_multilingual), "--work-dir", str(work),
            "--report-dir", str(report_dir)]
    assert st.main(args) == 0
    md = (report_dir / "report.md").read_text(encoding="utf-8")
    report = json.loads((report_dir / "report.json").read_text(encoding="utf-8"))

    # structure: every table and section, a p column, each robustness section with its plot
    for heading in ("## xquad-r: mAP (Table 1 layout)", "## MIRACL-mini", "## X→Y mAP heatmaps", "## Unseen languages",
                    "## Distant and low-resource pairs", "## Adversarial queries", "## Training-language diversity",
                    "## Models, data and time"):
        assert heading in md, heading
    assert "| system | xquad-r Mo AP | p |" in md
    for plot in ("unseen.png", "distance.png", "adversarial.png", "diversity.png"):
        assert f"]({plot})" in md and (report_dir / plot).stat().st_size > 1000
    for image in re.findall(r"!\[[^\]]*\]\(([^)]+)\)", md):
        assert (report_dir / image).is_file(), image
    assert f"python -m pyserini_hybrid.study studies/{STUDY.name} --quick" in md

    # 3 variants x 2 seeds + 1 diversity model, each with a training card
    assert len(report["models"]) == 7
    main = report["tables"]["main"]
    for system in ("BM25", "mE5-small", "X-X-mono", "X-Y", "hybrid", "BM25+mE5-small", "BM25+hybrid"):
        assert "xquad-r Mo AP" in main[system], system
    assert main["hybrid"]["xquad-r Mo AP"]["seeds"] == 2 and main["hybrid"]["xquad-r Mo AP"]["sd"] is not None
    # the study file runs the second seed on XQuAD-R and MLQA-R only: MIRACL's trained rows are one seed
    assert report["tables"]["miracl"]["hybrid"]["RR@10 (mean of 1)"]["seeds"] == 1
    assert "miracl-mini RR@10" in report["tables"]["diversity"]["hybrid [en+es]"]
    assert list(report["tables"]["diversity"]) == ["hybrid [en+es]", "hybrid [ar+da+en+es+it+ja+zh]"]
    # the headline counts the table's significant cells, in either direction
    h = report["headline"]
    assert h["cells"] == 3 and set(h["against"]) == {"X-X-mono", "X-Y"}
    for base, counts in h["against"].items():
        cells = [main[base][f"xquad-r {g} AP"] for g in ("Mo", "Cr", "Mul")]
        sig = [c["diff_hybrid_minus"] for c in cells if c["p_vs_hybrid"] < 0.05]
        assert counts == {"significant_wins": sum(d > 0 for d in sig), "significant_losses": sum(d < 0 for d in sig)}
    assert md.count("**Headline.**") == 1
    assert 0 < main["BM25"]["xquad-r Cr AP"]["p_vs_hybrid"] <= 1

    # every decimal number in a table row or the timing line is a number of report.json
    allowed = _formatted(report, set())
    lines = [x for x in md.splitlines() if x.startswith(("|", "Wall time", "**Headline"))]
    numbers = [n for line in lines for n in re.findall(r"(?<![\w.])-?\d+\.\d+(?![\w.])", line)]
    assert len(numbers) > 50
    assert not [n for n in numbers if n not in allowed]

    # and report.json's numbers are the evaluation's: BM25 Mo mAP = mean AP over the mono settings
    bm25 = json.loads((work / "runs" / "clean" / "bm25" / "xquad-r" / "eval" / "results.json").read_text())
    mono = [bm25["settings"][f"{x}-{x}"]["AP"] for x in ("de", "en")]
    assert main["BM25"]["xquad-r Mo AP"]["mean"] == pytest.approx(sum(mono) / 2)

    # a second run reuses every model, run and evaluation
    before = {p: p.stat().st_mtime for p in (work / "runs").rglob("*.trec")}
    assert st.main(args) == 0
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
