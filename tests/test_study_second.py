"""The second study's file (issue 43): its units (seed by seed, split-off NTREX and MIRACL parts, diversity,
+merge), the recipes they train with, and the first study's design hash left as it was. Bad [merge] and
split_datasets values are cases of test_study.py's bad-study-file test."""

import pytest

from pyserini_hybrid.core.files import PROJECT_ROOT, load_json
from pyserini_hybrid.study.config import Study
from pyserini_hybrid.study.cost import unit_steps
from pyserini_hybrid.study.provenance import study_values
from pyserini_hybrid.study.recipes import unit_recipe
from pyserini_hybrid.study.units import plan_units

SECOND = PROJECT_ROOT / "studies" / "me5-small-6lang.toml"
FIRST = PROJECT_ROOT / "studies" / "me5-small-cpu.toml"
FIRST_METAS = {d: {"languages": ["en", "de", "es"]} for d in ("xquad-r", "mlqa-r", "miracl-mini")}


@pytest.fixture(scope="module")
def units(converted):
    metas = {**converted[1], "ntrex": {"languages": ["en", "de", "sw", "tr"]}}  # plan_units reads the languages
    return Study.load(SECOND), plan_units(Study.load(SECOND), metas)


def test_the_second_study_is_the_first_ones_recipe_on_six_languages():
    study = Study.load(SECOND)
    assert study.training_data == ["squad", "squad-id", "squad-tr"] and study.seeds == [42, 43, 44, 45, 46]
    assert study.budgets == [580] and not study.selection and study.precision == "fp32"
    assert set(study.variants.items()) == {("X-X-mono", 1.0), ("X-Y", 0.0), ("hybrid", 0.5)}
    assert study.merge_variants == list(study.variants) and study.merge_seeds == [42]


def test_units_run_seed_by_seed_with_their_split_off_parts_right_after(units):
    study, planned = units
    names = [u.name for u in planned]
    assert len(names) == len(set(names))
    assert names[:3] == ["baselines", "baselines-ntrex", "baselines-miracl-mini"]
    seed_of = [u.seed for u in planned if u.kind == "main"]
    assert seed_of == sorted(seed_of)  # all batchings of a seed before the next seed
    by = {u.name: u for u in planned}
    first, ntrex, miracl = by["hybrid-seed42"], by["hybrid-seed42-ntrex"], by["hybrid-seed42-miracl-mini"]
    assert names.index("hybrid-seed42") + 1 == names.index("hybrid-seed42-ntrex")
    assert {e["dataset"] for e in first.evaluations} == {"xquad-r", "mlqa-r"} and first.part == 0
    assert {e["tag"] for e in first.evaluations} > {"clean"}  # the adversarial topics, first seed
    assert {e["dataset"] for e in ntrex.evaluations} == {"ntrex"} and ntrex.part == 1
    assert {e["dataset"] for e in miracl.evaluations} == {"miracl-mini"} and miracl.part == 2
    assert "hybrid-seed44-miracl-mini" not in by and "hybrid-seed43-miracl-mini" in by  # MIRACL: two seeds
    assert unit_steps(study, ntrex) == 0 and unit_steps(study, first) == study.steps
    # a part is the same model: same label, seed, alpha, recipe
    assert unit_recipe(study, ntrex, None, None).to_dict() == unit_recipe(study, first, None, None).to_dict()
    assert "part" in ntrex.to_dict() and "part" not in first.to_dict()


def test_diversity_and_merge_units(units):
    study, planned = units
    by = {u.name: u for u in planned}
    en, six = by["hybrid-en-seed42"], by["hybrid-seed42"]
    assert en.alpha == 1.0 and en.data_changes == {"languages": ["en"]}  # one language: no X-Y batch to draw
    assert by["hybrid-en-es-seed42"].alpha == 0.5 and en.evaluations == []  # training alone, then its parts
    assert {e["dataset"] for e in by["hybrid-en-seed42-ntrex"].evaluations} == {"ntrex"}
    merge = by["hybrid-merge-seed42"]
    assert merge.kind == "merge" and merge.label == "hybrid +merge" and merge.batching == "hybrid"
    # the merge unit averages the main unit's model: the very recipe the main unit trained
    assert unit_recipe(study, merge, None, None).to_dict() == unit_recipe(study, six, None, None).to_dict()
    assert [u.name for u in planned if u.kind == "merge" and not u.part] == \
        ["x-x-mono-merge-seed42", "x-y-merge-seed42", "hybrid-merge-seed42"]


def test_the_first_studys_design_and_units_read_as_before():
    """The tables added for the second study ([merge], split_datasets) are absent from the first study's
    design, and its units carry no part: its design hash and unit records are what they were (its committed
    report rebuilding byte for byte is tests/test_study_committed_report.py)."""
    first = Study.load(FIRST)
    now = study_values(first)
    assert "merge" not in now and "split_datasets" not in now and not first.merge_variants
    recorded = load_json(PROJECT_ROOT / "reports" / "me5-small-cpu" / "units" / "hybrid-seed42" / "unit.json")
    assert set(recorded["unit"]) == set(next(u for u in plan_units(first, FIRST_METAS)
                                             if u.name == "hybrid-seed42").to_dict())


def test_estimates_learn_this_machines_speed_from_its_first_unit():
    """A unit finished on this CPU type sets its datasets' rates, and scales the defaults of what it has not run
    yet (training, NTREX) by how much faster than the defaults it was; a unit of another family of the same
    CPU name counts for nothing."""
    from pyserini_hybrid.study.cost import DEFAULT_STEP_SECONDS, DEFAULT_TEXTS_PER_SECOND, rates
    from pyserini_hybrid.study.units import Unit

    here = {"cpu": "AMD EPYC", "family": "26", "model": "2"}
    metas = {"xquad-r": {"counts": {"en": {"candidates": 1000, "questions": 1000}}, "languages": ["en"]},
             "ntrex": {"counts": {"en": {"candidates": 2000, "queries": 2000}}, "languages": ["en"]}}
    unit = Unit("baselines", "baselines", evaluations=[{"budget": 2, "dataset": "xquad-r", "languages": ["en"],
                                                        "tag": "clean"}])
    seconds = (1000 + 0.4 * 1000) / (4 * DEFAULT_TEXTS_PER_SECOND)  # four times the default speed
    result = {"machine": here, "cost": {"steps": 0, "train_seconds": 0.0},
              "evaluations": [{"dataset": "xquad-r", "full_ranks": True, "seconds": {"run": seconds, "record": 0.0}}]}
    step, per_text, source = rates([(unit, result)], here, metas)
    assert per_text["xquad-r"] == pytest.approx(1 / (4 * DEFAULT_TEXTS_PER_SECOND))
    assert per_text["ntrex"] == pytest.approx(per_text["xquad-r"]) and step == pytest.approx(DEFAULT_STEP_SECONDS / 4)
    assert "x 0.25" in source
    step, per_text, source = rates([(unit, result)], {**here, "family": "25"}, metas)
    assert step == DEFAULT_STEP_SECONDS and per_text["ntrex"] == 1 / DEFAULT_TEXTS_PER_SECOND
    assert source.startswith("defaults")


def test_the_ntrex_table_from_recorded_ranks():
    """NTREX's report rows from recorded ranks: X→en / en→X / pool P@1 means over languages and seeds, and
    hybrid minus each batching; the groups by a property of X."""
    import pandas as pd

    from pyserini_hybrid.study.report.bitext_tables import ntrex_groups, ntrex_result, ntrex_table

    study = Study.load(SECOND)
    lines = range(1, 9)

    def ranks(de_rank):  # de->en at de_rank, everything else at 1; the pool's line-1 and line-5 queries
        rows = [("en", f"{x}-{i}", f"en-{i}", 1, de_rank if x == "de" else 1) for x in ("de", "sw") for i in lines]
        rows += [(x, f"en-{i}", f"{x}-{i}", 1, 1) for x in ("de", "sw") for i in lines]
        rows += [("pool", f"{x}-{i}", f"{y}-{i}", 1, 1 + j) for x in ("de", "sw", "en") for i in (1, 5)
                 for j, y in enumerate(y for y in ("de", "sw", "en") if y != x)]
        return pd.DataFrame(rows, columns=["target", "query_id", "doc_id", "rel", "rank"]).astype({"rank": "Int64"})

    results = {}
    for seed in (42, 43):
        for name, de_rank in (("hybrid", 1), ("X-Y", 2), ("X-X-mono", 1)):
            res, per = ntrex_result(ranks(de_rank), 100, ["de", "en", "sw"])
            results[(name, seed, "ntrex")] = (res, per, None)
    metas = {"ntrex": {"languages": ["de", "en", "sw"], "pivot": "en", "lines": 8}}
    table = ntrex_table(study, results, metas, ["X-X-mono", "X-Y", "hybrid"])
    assert table["hybrid"]["X→en P@1"]["mean"] == 1.0 and table["X-Y"]["X→en P@1"]["mean"] == 0.5
    assert table["X-Y"]["X→en P@1"]["diff_hybrid_minus"] == 0.5 and table["X-Y"]["en→X P@1"]["mean"] == 1.0
    assert table["hybrid"]["Mul P@1"]["mean"] == 1.0 and table["hybrid"]["Mul RR@10"]["mean"] == 1.0
    # +merge against its own batching and the untuned model, first seed
    from pyserini_hybrid.study.report.merge_tables import merge_table

    results[("hybrid +merge", 42, "ntrex")] = results[("X-Y", 42, "ntrex")]
    results[("mE5-small", 0, "ntrex")] = results[("hybrid", 43, "ntrex")]
    merged = merge_table(study, results, metas)["hybrid +merge"]["ntrex X↔en P@1"]
    assert (merged["mean"], merged["batching"], merged["untuned"]) == (0.75, 1.0, 1.0)
    assert merged["diff_hybrid_minus"] == -0.25  # +merge minus its batching (the field's name is the tables')
    groups = ntrex_groups(study, results, metas, {"runs": []})
    assert groups["resource class: class 5 (1)"]["X-Y"]["mean"] == 0.5  # de: X->en 0, en->X 1
    assert groups["resource class: class 2 (1)"]["X-Y"]["mean"] == 1.0  # sw


def _ntrex_ranks(de_rank):
    """X→en and en→X ranks of NTREX lines 1-8 in de and sw: de→en at ``de_rank``, every other query at 1."""
    import pandas as pd

    rows = [("en", f"{x}-{i}", f"en-{i}", 1, de_rank if x == "de" else 1) for x in ("de", "sw") for i in range(1, 9)]
    rows += [(x, f"en-{i}", f"{x}-{i}", 1, 1) for x in ("de", "sw") for i in range(1, 9)]
    return pd.DataFrame(rows, columns=["target", "query_id", "doc_id", "rel", "rank"]).astype({"rank": "Int64"})


def test_the_diversity_curve_on_ntrex_compares_each_model_on_one_language_set(tmp_path):
    """Each diversity row's NTREX P@1 on the languages its model never saw, and on those no row's model saw (the
    same for every row); the rows of a partial study's untrained models stay empty; three rows or more plot as a
    curve over the number of training languages."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from pyserini_hybrid.core.files import write_json
    from pyserini_hybrid.study.report.bitext_tables import diversity_ntrex, ntrex_result
    from pyserini_hybrid.study.report.markdown import Page
    from pyserini_hybrid.study.report.write import diversity_lines

    study = Study.load(SECOND)
    metas = {"ntrex": {"languages": ["de", "en", "sw"], "pivot": "en", "lines": 8}}
    runs = []
    for name, pairs in (("hybrid [en]", {"en-en": 3}), ("hybrid", {"en-de": 2, "de-de": 1})):
        folder = tmp_path / name
        write_json(folder / "training-card.json", {"batches": {"languages": pairs}})
        runs.append((name, 42, {580: folder}))
    results = {(name, 42, "ntrex"): (*ntrex_result(_ntrex_ranks(rank), 100, ["de", "en", "sw"]), None)
               for name, rank in (("hybrid [en]", 2), ("hybrid", 1))}
    table = {"hybrid [en]": {}, "hybrid [de+en]": {}, "hybrid [en+es]": {}}  # the last not trained yet
    diversity_ntrex(table, results, metas, study, {"runs": runs})
    assert table["hybrid [en]"]["ntrex P@1 unseen by it"]["mean"] == 0.75  # de (de→en missed) and sw
    assert table["hybrid [en]"]["ntrex P@1 unseen by any"]["mean"] == 1.0  # sw alone: de was trained on
    assert table["hybrid [de+en]"]["ntrex P@1 unseen by it"]["mean"] == 1.0 and table["hybrid [en+es]"] == {}
    table["hybrid [en+es]"] = {"ntrex P@1 unseen by any": {"mean": 0.9, "seeds": 1}}
    lines = diversity_lines(Page({"tables": {"diversity": table}}, study, None, tmp_path, plt))
    assert lines[0] == "## Training-language diversity" and sum(x.startswith("| hybrid [") for x in lines) == 3
    assert (tmp_path / "diversity.png").stat().st_size > 1000
