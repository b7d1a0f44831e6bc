"""The committed study report is what its committed units give: ``report`` from a fresh clone (no cache, no
model, no run file) reproduces ``reports/me5-small-cpu/report.json`` byte for byte."""

import pytest

from pyserini_hybrid.core.files import PROJECT_ROOT
from pyserini_hybrid.study.__main__ import main as study_main

STUDY = PROJECT_ROOT / "studies" / "me5-small-cpu.toml"
REPORT = PROJECT_ROOT / "reports" / "me5-small-cpu"


@pytest.mark.slow
def test_committed_report_is_reproduced_from_the_committed_units(tmp_path):
    units = sorted(p.parent.name for p in (REPORT / "units").glob("*/unit.json"))
    assert units, "no committed unit: the default study has started, its units must be in reports/me5-small-cpu/units"
    out = tmp_path / "report"
    (out).mkdir()
    (out / "units").symlink_to(REPORT / "units", target_is_directory=True)
    assert study_main([str(STUDY), "--report-dir", str(out), "report"]) == 0
    assert (out / "report.json").read_bytes() == (REPORT / "report.json").read_bytes()
