"""``report --beside``: another study's answer quoted beside this one's (issue 43: how the second study's answer
compares with the first's), read from the committed first study's report.json; the rest of a report with it
is tested end to end in test_study.py's quick-study report test."""

import copy
import json
import re

import matplotlib
import pytest

from pyserini_hybrid.core.files import PROJECT_ROOT
from pyserini_hybrid.study.__main__ import main as study_main
from pyserini_hybrid.study.report.beside import beside_lines, beside_sentence, beside_table, load_beside
from pyserini_hybrid.study.report.headline import answer_markdown
from pyserini_hybrid.study.report.markdown import Page

FIRST_REPORT = PROJECT_ROOT / "reports" / "me5-small-cpu" / "report.json"
SECOND = PROJECT_ROOT / "studies" / "me5-small-6lang.toml"


@pytest.fixture(scope="module")
def first():
    return load_beside(FIRST_REPORT)


def _cell_rows(lines):
    """The table's hybrid-minus rows ("| X-Y xquad-r Cr | ..."), not the MIRACL table's system rows."""
    return [line for line in lines if re.match(r"\| X-\S+ \S+ (Mo|Cr|Mul) \|", line)]


def _page(report, tmp_path):
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return Page(report, None, None, tmp_path, plt)


def test_a_study_beside_itself_repeats_each_cell_its_decision_and_its_claim(first, tmp_path):
    report, shown = first
    assert shown == "reports/me5-small-cpu/report.json"  # relative to the project: no path of this machine
    b = beside_table(report, report, shown)
    h, main = report["headline"], report["tables"]["main"]
    assert set(b["cells"]) == set(h["decisions"])  # the headline's 12 cells
    for key, sides in b["cells"].items():
        assert sides["beside"] == sides["this"]
        base, dataset, group = key.split()
        cell = main[base][f"{dataset} {group} AP"]
        assert sides["this"]["decision"] == h["decisions"][key] and sides["this"]["interval"] == "holm"
        assert sides["this"]["ci"] == cell["ci_adjusted"] and sides["this"]["diff"] == cell["diff_hybrid_minus"]
        assert sides["this"]["seeds"] == len(report["seeds"])
    assert b["claim"] == {d: {"beside": v, "this": v} for d, v in h["claim"].items()}
    assert b["training_languages"] == ["en", "es", "it", "da"]
    assert b["training_pairs"] == report["data"]["hybrid"]["pairs_total"]
    assert b["miracl"]["hybrid"]["this"] == report["tables"]["miracl"]["hybrid"]["nDCG@10 (mean of 5)"]["mean"]
    lines = beside_lines(_page({**report, "beside": b}, tmp_path))
    assert lines[0] == "## Beside me5-small-cpu"
    assert len(_cell_rows(lines)) == len(h["decisions"])
    assert (tmp_path / "beside.png").stat().st_size > 1000
    # README's answer gains one line only with --beside: the first study's answer.md is what it was
    committed = (FIRST_REPORT.parent / "answer.md").read_text(encoding="utf-8").rstrip("\n")
    assert answer_markdown(report, f"python -m pyserini_hybrid.study {report['study']} report") == committed
    with_beside = answer_markdown({**report, "beside": b}, f"python -m pyserini_hybrid.study {report['study']} report")
    assert with_beside.startswith(committed) and with_beside.splitlines()[-1] == beside_sentence({**report, "beside": b})
    assert "xquad-r undecided → undecided" in with_beside.splitlines()[-1]


def test_a_partial_side_shows_its_unadjusted_interval_and_decides_nothing(first, tmp_path):
    report, shown = first
    partial = copy.deepcopy(report)  # what a partial report holds: no headline, no Holm decision in any cell
    partial["partial"], partial["headline"] = True, None
    for row in partial["tables"]["main"].values():
        for c in row.values():
            for k in ("decision", "ci_adjusted", "p_holm", "level", "power"):
                c.pop(k, None)
    b = beside_table(partial, report, shown)
    for key, sides in b["cells"].items():
        base, dataset, group = key.split()
        assert sides["this"]["interval"] == "unadjusted" and sides["this"]["decision"] is None
        assert sides["this"]["ci"] == report["tables"]["main"][base][f"{dataset} {group} AP"]["ci_hybrid_minus"]
        assert sides["beside"]["interval"] == "holm"
    assert all(v["this"] is None for v in b["claim"].values())
    table = _cell_rows(beside_lines(_page({**partial, "beside": b}, tmp_path)))
    assert len(table) == len(b["cells"]) and all(line.endswith("(unadjusted) | – |") for line in table)
    # a side without hybrid yet (the second study's first units) shows dashes, not errors
    del partial["tables"]["main"]["hybrid"]
    for row in partial["tables"]["main"].values():
        for c in row.values():
            c.pop("diff_hybrid_minus", None)
    b = beside_table(partial, report, shown)
    assert all(s["this"] is None and s["beside"] for s in b["cells"].values())
    assert any("| – | – |" in line for line in beside_lines(_page({**partial, "beside": b}, tmp_path)))


@pytest.mark.parametrize("content, message", [
    (None, "no such file"),
    ("not json {", "JSON ("),
    (json.dumps({"study": "x", "tables": {}}), "not a study's report.json"),
])
def test_report_refuses_a_wrong_beside_file_in_one_line_before_any_work(tmp_path, capsys, content, message):
    path = tmp_path / "other.json"
    if content is not None:
        path.write_text(content)
    out = tmp_path / "report"
    with pytest.raises(SystemExit) as stop:
        study_main([str(SECOND), "--report-dir", str(out), "report", "--beside", str(path)])
    assert stop.value.code == 2
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(err) == 1 and err[0].startswith("error: --beside ") and message in err[0], err
    assert not (out / "report.json").exists() and not list(out.glob("*.md"))
