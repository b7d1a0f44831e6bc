"""README's study paragraph is the committed report's answer, verbatim: the headline is read from
report.json, never typed (and the progress line cannot go stale)."""

import json
import re

from pyserini_hybrid.core.files import PROJECT_ROOT
from pyserini_hybrid.study.report.headline import answer_markdown, details_markdown

REPORT = PROJECT_ROOT / "reports" / "me5-small-cpu"


def test_readme_quotes_the_committed_study_answer():
    report = json.loads((REPORT / "report.json").read_text(encoding="utf-8"))
    want = answer_markdown(report, f"python -m pyserini_hybrid.study {report['study']} report")
    assert (REPORT / "answer.md").read_text(encoding="utf-8").strip() == want
    readme = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    block = re.search(r"<!-- study-answer:[^>]*-->\n(.*?)\n<!-- /study-answer -->", readme, re.S)
    assert block, "README has no study-answer block"
    assert block.group(1).strip() == want, "README's study paragraph differs from reports/me5-small-cpu/answer.md"
    done = len(list((REPORT / "units").glob("*/unit.json")))
    assert report["answer"]["units_done"] == done  # the report is of the committed units, all of them


def test_the_budget_line_says_which_measures_have_no_point_at_the_largest_budget():
    """Mul and rank distance on the curve languages exist only where the pool was the curve languages' own; the
    answer names the gap rather than leaving a reader to wonder why the largest budget is missing."""
    report = json.loads((REPORT / "report.json").read_text(encoding="utf-8"))
    top = str(max(report["budgets"]))
    gap = [k for k, orders in report["answer"]["budget"].items() if top not in orders]
    line = next(x for x in details_markdown(report) if x.startswith("- By budget"))
    assert gap and f"{', '.join(gap)}: no point at {top} steps" in line
    for orders in report["answer"]["budget"].values():
        orders.setdefault(top, next(iter(orders.values())))
    line = next(x for x in details_markdown(report) if x.startswith("- By budget"))
    assert "no point" not in line
