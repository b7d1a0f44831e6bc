"""Reliability of the study's units and report (C1-C6, D2, D7, B9): a unit's files are
the ones it recorded, its depth is the one its ranks were read at, it is a unit of the study file given, the
study file's values are sane, and an interrupted report never mixes new and old files.

Fast: units are copies of committed ones in tmp_path, and the data conversion ``report`` and ``plan`` start
with is replaced by the languages and format alone (every check here fires before topics are read)."""

import gzip
import json
import shutil

import pytest

from pyserini_hybrid.core.errors import InputError
from pyserini_hybrid.core.files import PROJECT_ROOT
from pyserini_hybrid.study.__main__ import main as study_main
from pyserini_hybrid.study.config import Study

STUDY = PROJECT_ROOT / "studies" / "me5-small-cpu.toml"
COMMITTED = PROJECT_ROOT / "reports" / "me5-small-cpu" / "units"
UNIT = "hybrid-seed43"  # dense with full rankings, fused with BM25, no MIRACL: 2 MB
RANKS = "hybrid.580.xquad-r.clean.ranks.tsv.gz"


@pytest.fixture
def quick_convert(monkeypatch):
    """``convert`` reduced to what the checks before any table need: each set's languages and format."""
    from pyserini_hybrid.data import convert as conversion
    from pyserini_hybrid.data import topic_sets as tp

    monkeypatch.setattr(conversion, "convert", lambda d, data, out, quiet=False: {
        "languages": tp.present_languages(d, data), "format": tp.dataset_spec(d, data)["format"]})


def one_line(capsys, argv) -> str:
    """The CLI's one-line error (exit 2, no traceback)."""
    with pytest.raises(SystemExit) as stop:
        study_main([str(a) for a in argv])
    err = capsys.readouterr().err
    assert stop.value.code == 2 and "Traceback" not in err, err
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, err
    return lines[0]


def report_with(tmp_path, *names) -> tuple:
    """A report dir holding copies of committed units, and the unit.json path of the first."""
    report = tmp_path / "report"
    for name in names:
        shutil.copytree(COMMITTED / name, report / "units" / name)
    return report, report / "units" / names[0] / "unit.json"


def edit_json(path, change) -> None:
    data = json.loads(path.read_text(encoding="utf-8"))
    change(data)
    path.write_text(json.dumps(data, indent=2), encoding="utf-8")


def study_copy(tmp_path, old: str, new: str):
    text = STUDY.read_text(encoding="utf-8")
    assert old in text
    path = tmp_path / f"copy-{len(list(tmp_path.glob('copy-*.toml')))}.toml"
    path.write_text(text.replace(old, new), encoding="utf-8")
    return path


def test_the_committed_units_record_their_checksums_and_match_the_study_file():
    """The committed study is verified too: every result file's sha256 is in its unit.json, and every unit is
    what the study file plans (made at an older commit, so by what it records of its design)."""
    from pyserini_hybrid.study.run.collect import planned_units
    from pyserini_hybrid.study.units import read_unit
    from pyserini_hybrid.study.verify import HASHES, check_design, check_unit_files

    assert check_unit_files(COMMITTED) == []
    study = Study.load(STUDY)
    units = list(planned_units(study, None).values())
    done = [(u, r) for u in units for r in [read_unit(COMMITTED, u)] if r]
    assert len(done) == 18 and all(HASHES in r for _, r in done)
    check_design(study, done, units, COMMITTED)


def test_a_changed_rank_is_refused_by_report_and_import(tmp_path, capsys):
    """C1: one rank changed in a committed ranks file no longer changes the report silently."""
    report, _ = report_with(tmp_path, UNIT)
    path = report / "units" / UNIT / RANKS
    lines = gzip.decompress(path.read_bytes()).decode().split("\n")
    cells = lines[1].split("\t")
    cells[1] = str(int(cells[1]) + 1)
    lines[1] = "\t".join(cells)
    path.write_bytes(gzip.compress("\n".join(lines).encode(), mtime=0))
    error = one_line(capsys, [STUDY, "--report-dir", report, "report"])
    assert f"unit {UNIT}: {RANKS} differs from the sha256 its unit.json records" in error
    assert not (report / "report.json").exists()
    from pyserini_hybrid.study.run.collect import import_units

    with pytest.raises(InputError, match=f"unit {UNIT}: {RANKS} differs from the sha256"):
        import_units(Study.load(STUDY), report / "units", tmp_path / "here" / "units")
    assert not (tmp_path / "here" / "units").exists() or not list((tmp_path / "here" / "units").iterdir())


@pytest.mark.parametrize("older", [False, True], ids=["with-checksums", "written-before-checksums"])
def test_a_missing_rank_file_is_one_line(tmp_path, capsys, older):
    """C2: a ranks file named in unit.json but gone is one line naming the unit and file, not a traceback."""
    report, unit_json = report_with(tmp_path, UNIT)
    if older:
        edit_json(unit_json, lambda d: d.pop("sha256"))
    (report / "units" / UNIT / RANKS).unlink()
    error = one_line(capsys, [STUDY, "--report-dir", report, "report"])
    assert f"unit {UNIT}: {RANKS} is missing" in error


def test_an_edited_depth_is_refused(tmp_path, capsys, quick_convert):
    """C3: an evaluation's depth edited in unit.json (100 -> 1000; rank distance counts a censored candidate
    at depth + 1) is refused: against the study file's hits, and against the recorded ranks when the study
    file was edited to match."""
    report, unit_json = report_with(tmp_path, UNIT)

    def deeper(fused_only):
        def change(d):
            for e in d["evaluations"]:
                if e["system"].startswith("BM25+") or not fused_only:
                    e["depth"] = 1000
        return change

    edit_json(unit_json, deeper(True))
    error = one_line(capsys, [STUDY, "--report-dir", report, "report"])
    assert f"unit {UNIT}: its BM25+hybrid @580 xquad-r clean evaluation records depth 1000, " in error
    assert "has hits = 100" in error
    edit_json(unit_json, deeper(False))
    deep = study_copy(tmp_path, "hits = 100 ", "hits = 1000")
    error = one_line(capsys, [deep, "--report-dir", report, "report"])
    assert f"unit {UNIT}: hybrid @580 xquad-r clean: its ranks put" in error
    assert "its depth or checks were changed after the unit was written" in error


def test_units_of_another_study_file_are_refused(tmp_path, capsys, quick_convert):
    """C4(c): import, plan and report compare units with the study file given: a copy with hybrid alpha 0.6
    no longer reports the alpha-0.5 units as 0.6, and budget 600 instead of 580 is one line, not a KeyError."""
    from pyserini_hybrid.study.run.collect import import_units

    other = study_copy(tmp_path, '"hybrid" = 0.5', '"hybrid" = 0.6')
    here = tmp_path / "empty" / "units"
    with pytest.raises(InputError, match=r"unit hybrid-[\w-]+ is not the unit .*: its alpha is 0.5, the study "
                                         r"file plans 0.6; nothing imported"):
        import_units(Study.load(other), COMMITTED, here)
    assert not here.exists() or not list(here.iterdir())
    report, unit_json = report_with(tmp_path, UNIT)
    for action in (["report"], ["plan"]):
        error = one_line(capsys, [other, "--report-dir", report, "--work-dir", tmp_path / "work", *action])
        assert f"unit {UNIT} is not the unit" in error and "its alpha is 0.5, the study file plans 0.6" in error
    budget = study_copy(tmp_path, "budgets = [50, 170, 580]", "budgets = [50, 170, 600]")
    error = one_line(capsys, [budget, "--report-dir", report, "report"])
    assert f"unit {UNIT} is not the unit" in error and "@580" in error
    # a unit of this checkout's code: its study hash is compared exactly
    from pyserini_hybrid.study.provenance import code_hash

    edit_json(unit_json, lambda d: d["fingerprint"].update(code=code_hash()))
    error = one_line(capsys, [other, "--report-dir", report, "report"])
    assert "its design fingerprint's study hash" in error


def bad_study(tmp_path, text: str):
    path = tmp_path / "s.toml"
    path.write_text('[study]\nname = "x"\nrecipe = "encoders/me5-small-hybrid-cpu.toml"\ndatasets = ["xquad-r"]\n'
                    + text, encoding="utf-8")
    return path


@pytest.mark.parametrize("text, message", [
    ("seeds = [42, 42, 43]\nbudgets = [2]\n[variants]\nhybrid = 0.5\n", r"s.toml:5: study.seeds: 42 is given twice"),
    ("seeds = [1]\nbudgets = [2, 4, 2]\n[variants]\nhybrid = 0.5\n", r"study.budgets: 2 is given twice"),
    ("seeds = [1]\nbudgets = [4]\n[variants]\nhybrid = 0.5\n[sweep]\nalphas = [0.25, 0.25]\n",
     r"sweep.alphas: 0.25 is given twice"),
    ("seeds = [1]\nbudgets = [4]\n[variants]\nhybrid = 0.5\n[quick]\nseeds = [3, 3]\n",
     r"quick.seeds: 3 is given twice"),
    ("seeds = [1]\nbudgets = [2.5]\n[variants]\nhybrid = 0.5\n",
     r"s.toml: \[study\]: a value of the wrong kind \(study.budgets on line 6: every item must be a whole number, "
     r"got 2.5\)"),
    ("seeds = [1]\nbudgets = [4]\n[variants]\nhybrid = 0.5\n[selection]\nseed = 7\nsteps = 2\nlr = [nan]\n",
     r"selection.lr: must be a finite number, got nan"),
    ("seeds = [1]\nbudgets = [4]\n[variants]\nhybrid = 0.5\n[selection]\nseed = 7\nsteps = 2\ntemperature = [inf]\n",
     r"selection.temperature: must be a finite number, got inf"),
    ("seeds = [1]\nbudgets = [4]\n[variants]\nhybrid = 0.5\n[selection]\nseed = 7\nsteps = 2\nlr = [-1e-5]\n",
     r"\[selection\] lr must be above 0"),
    ("seeds = [1]\nbudgets = [4]\n[variants]\nhybrid = 0.5\n\"X-Y\" = 0.0\n\"x y\" = 0.2\n",
     r"\[variants\] 'x y' gives the same unit names as 'X-Y'"),
    ("seeds = [1]\nbudgets = [4]\n[variants]\nhybrid = 0.5\n[diversity]\nsets = [[\"en\", \"../x\"]]\n",
     r"diversity set \['en', '../x'\]: no training data in ../x"),
    ("seeds = [1]\nbudgets = [4]\n[variants]\nhybrid = 0.5\n[adversarial]\ndataset = \"xquad-r\"\nkinds = [\"../x\"]\n",
     r"\[adversarial\] kinds: unknown ../x"),
])
def test_every_value_of_the_study_file_is_checked(tmp_path, text, message):
    """C5, D7: lists without duplicates (a seed given twice was counted twice), every number finite and in
    range, items of the right type, names that make distinct, safe unit names."""
    with pytest.raises(InputError, match=message):
        Study.load(bad_study(tmp_path, text))


def test_a_study_name_cannot_leave_the_reports_folder(tmp_path):
    """D2: the study name names the report and work folders: the topic-set name pattern, no ``../``."""
    for name in ("../../../tmp/escaped", "a/b", "Upper", ".hidden", "x\n"):
        path = bad_study(tmp_path, "seeds = [1]\nbudgets = [4]\n[variants]\nhybrid = 0.5\n").read_text()
        (tmp_path / "s.toml").write_text(path.replace('name = "x"', f"name = {json.dumps(name)}"), encoding="utf-8")
        with pytest.raises(InputError, match=r"\[study\] name .*: lower-case letters"):
            Study.load(tmp_path / "s.toml")


def test_a_sweep_alpha_that_is_a_variant_is_said(tmp_path, capsys):
    """C6: a [sweep] alpha equal to a [variants] alpha trains that model twice: a warning says so."""
    Study.load(bad_study(tmp_path, "seeds = [1]\nbudgets = [4]\n[variants]\nhybrid = 0.5\n[sweep]\nalphas = [0.5]\n"))
    assert "[sweep] alphas 0.5: already a [variants] alpha" in capsys.readouterr().err


@pytest.mark.parametrize("minutes", ["nan", "inf", "-1", "0"])
def test_for_minutes_must_be_a_finite_positive_number(tmp_path, capsys, monkeypatch, minutes):
    """C6: ``run --for-minutes nan`` passed ``<= 0`` and removed the time limit."""
    def went_on(*args, **kwargs):
        raise AssertionError("the study went on")

    monkeypatch.setattr(Study, "load", went_on)
    error = one_line(capsys, [STUDY, "--report-dir", tmp_path / "r", "--work-dir", tmp_path / "w", "run",
                              "--for-minutes", minutes])
    assert f"--for-minutes {float(minutes)}: must be a finite number of minutes above 0" in error


def test_an_interrupted_report_keeps_the_old_files(tmp_path, monkeypatch):
    """B9: Ctrl-C while the report is written leaves the old report.json, report.md and answer.md together
    (never a new report.json beside old files), and nothing of the interrupted writer."""
    from pyserini_hybrid.study.report import write as writer

    out = tmp_path / "report"
    out.mkdir()
    for name in ("report.json", "report.md", "answer.md"):
        (out / name).write_text(f"old {name}\n", encoding="utf-8")
    old = {p.name: p.read_bytes() for p in out.iterdir()}
    committed = json.loads((COMMITTED.parent / "report.json").read_text(encoding="utf-8"))

    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(writer, "answer_markdown", interrupt)  # right after report.json was written
    with pytest.raises(KeyboardInterrupt):
        writer.write_report(committed, Study.load(STUDY), {}, {}, out)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == old


def test_a_report_swaps_its_files_in_with_report_json_last(tmp_path, monkeypatch):
    """B9: the files move into place after all are written, report.json last and the old one removed first,
    so an interrupt during the swap leaves no report.json rather than a new one beside old files."""
    from pyserini_hybrid.study.report import write as writer

    out = tmp_path / "report"
    out.mkdir()

    def files(report, study, results, folder):
        for name in ("report.json", "report.md", "answer.md", "plot.png"):
            (folder / name).write_text(f"new {name}", encoding="utf-8")

    monkeypatch.setattr(writer, "write_files", files)
    for name in ("report.json", "report.md", "answer.md"):
        (out / name).write_text(f"old {name}", encoding="utf-8")
    moves = []
    real_replace = writer.os.replace

    def replace_then_stop(src, dst):
        moves.append(dst.name)
        if len(moves) == 2:
            raise KeyboardInterrupt
        real_replace(src, dst)

    monkeypatch.setattr(writer.os, "replace", replace_then_stop)
    with pytest.raises(KeyboardInterrupt):
        writer.write_report({}, None, {}, {}, out)
    assert not (out / "report.json").exists() and not list(out.glob(".*"))
    monkeypatch.setattr(writer.os, "replace", real_replace)
    assert writer.write_report({}, None, {}, {}, out) == out / "report.md"
    assert sorted(p.name for p in out.iterdir()) == ["answer.md", "plot.png", "report.json", "report.md"]
    assert all(p.read_text() == f"new {p.name}" for p in out.iterdir())


def test_a_unit_written_before_checksums_gets_them_at_import(tmp_path, capsys):
    """Units of an older version record no checksums: ``import`` records them from the files as imported (said),
    ``report`` checks such units' files for presence and warns."""
    from pyserini_hybrid.study.run.collect import import_units
    from pyserini_hybrid.study.verify import HASHES, check_unit_files, file_hashes

    source, unit_json = report_with(tmp_path, UNIT)
    edit_json(unit_json, lambda d: d.pop(HASHES))
    assert check_unit_files(source / "units") == [UNIT]
    here = tmp_path / "here" / "units"
    assert import_units(Study.load(STUDY), source / "units", here) == [UNIT]
    assert f"warning: unit {UNIT} recorded no file checksums" in capsys.readouterr().err
    recorded = json.loads((here / UNIT / "unit.json").read_text(encoding="utf-8"))[HASHES]
    assert recorded == file_hashes(COMMITTED / UNIT) and check_unit_files(here) == []


def test_the_data_fingerprint_covers_exactly_the_files_read(tmp_path):
    """Issue 40: a file added beside the study's data leaves its fingerprint unchanged; a changed file it reads
    (a training set's, an evaluation set's) changes it. The data folder is a tree of links to the shared one."""
    from pyserini_hybrid.core.files import data_dir
    from pyserini_hybrid.study.provenance import data_hash

    shared, data = data_dir(None), tmp_path / "data"
    for path in sorted(p for p in shared.rglob("*") if p.is_file()):
        (data / path.relative_to(shared)).parent.mkdir(parents=True, exist_ok=True)
        (data / path.relative_to(shared)).symlink_to(path)
    study = Study.load(STUDY)
    before = data_hash(study, str(data))
    assert set(before) >= {"qa-train", "lareqa", "miracl-mini"}
    for unrelated in ("qa-train/notes.txt", "qa-train/squad/de.dev-v1.1.json.orig", "lareqa/README.extra",
                      "miracl-mini/ar/corpus.jsonl.bak"):
        (data / unrelated).write_text("not read by the study\n", encoding="utf-8")
    assert data_hash(study, str(data)) == before
    for read, part in (("qa-train/squad/es.dev-v1.1-small.json", "qa-train"), ("lareqa/xquad-r/de.json", "lareqa")):
        link = data / read
        content = link.read_bytes()
        link.unlink()
        link.write_bytes(content + b"\n")
        changed = data_hash(study, str(data))
        assert changed[part] != before[part] and {k: v for k, v in changed.items() if k != part} == \
            {k: v for k, v in before.items() if k != part}
        link.write_bytes(content)
    assert data_hash(study, str(data)) == before


def test_the_study_tables_keep_their_file_form(tmp_path):
    """The typed tables ([sweep], [native], [selection], [adversarial]) give the JSON form the file's tables
    gave (the keys it sets, its values), so study_values and study_hash of a study file do not change with
    their types; an absent table is empty and falsy; --quick's tables hold the keys it sets."""
    import tomllib

    from pyserini_hybrid.study.provenance import study_hash, study_values

    raw = tomllib.loads(STUDY.read_text(encoding="utf-8"))
    values = study_values(Study.load(STUDY))
    for table in ("sweep", "native", "selection", "adversarial"):
        assert values[table] == raw[table] and list(values[table]) == list(raw[table])
    assert list(values) == ["name", "training_data", "seeds", "budgets", "warmup_steps", "datasets", "languages",
                            "curve_languages", "hits", "fusion", "miracl_seeds", "precision", "variants", "sweep",
                            "native", "selection", "diversity", "diversity_datasets", "adversarial", "quick"]
    quick = study_values(Study.load(STUDY, quick=True))
    assert quick["sweep"] == {"alphas": [0.25], "seeds": [1]} and quick["native"]["seeds"] == [1]
    assert quick["selection"] == {"steps": 2, "seed": 41, "lr": [3e-5, 1e-4], "temperature": [0.01]}
    assert quick["adversarial"] == {**raw["adversarial"], "languages": ["en", "de"], "kinds": ["code_switch"]}
    bare = tmp_path / "bare.toml"
    bare.write_text('[study]\nname = "x"\nrecipe = "encoders/me5-small-hybrid-cpu.toml"\nseeds = [1]\nbudgets = [2]\n'
                    'datasets = ["xquad-r"]\n[variants]\nhybrid = 0.5\n', encoding="utf-8")
    study = Study.load(bare)
    assert not (study.sweep or study.native or study.selection or study.adversarial)
    assert all(study_values(study)[t] == {} for t in ("sweep", "native", "selection", "adversarial"))
    assert study.sweep_seeds == [1] and study.native_variants == [] and len(study_hash(study)) == 16
