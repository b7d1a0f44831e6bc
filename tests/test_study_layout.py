"""The study's three parts import one way: the base (``study/*.py``) neither part, the report (``study/report``)
never the runner (``study/run``), so a report needs no training code. Read with ast: nothing is imported."""

import ast

import pytest

from pyserini_hybrid.core.files import PROJECT_ROOT

STUDY = PROJECT_ROOT / "pyserini_hybrid" / "study"
PACKAGE = "pyserini_hybrid.study"


def imported_modules(path) -> set[str]:
    """Every module ``path`` imports, module level and inside functions, relative imports made absolute."""
    module = ".".join(path.relative_to(PROJECT_ROOT).with_suffix("").parts)
    package = module.rpartition(".")[0]
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package.split(".")[:len(package.split(".")) - node.level + 1] if node.level else []
            target = ".".join(base + ([node.module] if node.module else []))
            out.add(target)
            out.update(f"{target}.{a.name}" for a in node.names)  # ``from . import records`` names a module
    return out


def reaches(path, part: str) -> list[str]:
    return sorted(m for m in imported_modules(path) if m == f"{PACKAGE}.{part}" or m.startswith(f"{PACKAGE}.{part}."))


def test_the_import_reader_resolves_relative_imports(tmp_path):
    assert f"{PACKAGE}.units" in imported_modules(STUDY / "report" / "assemble.py")
    assert f"{PACKAGE}.report.tables" in imported_modules(STUDY / "report" / "assemble.py")
    assert f"{PACKAGE}.run.collect" in imported_modules(STUDY / "run" / "produce.py")
    assert f"{PACKAGE}.records" in imported_modules(STUDY / "run" / "produce.py")


@pytest.mark.parametrize("path", sorted((STUDY / "report").rglob("*.py")), ids=lambda p: p.name)
def test_the_report_never_imports_the_runner(path):
    assert reaches(path, "run") == [] and reaches(path, "__main__") == []


@pytest.mark.parametrize("path", sorted(p for p in STUDY.glob("*.py") if p.name != "__main__.py"),
                         ids=lambda p: p.name)
def test_the_base_imports_neither_part(path):
    assert reaches(path, "run") == [] and reaches(path, "report") == []


def test_the_parts_are_where_the_docs_say():
    assert {p.name for p in (STUDY / "run").glob("*.py")} >= {"produce.py", "training.py", "collect.py"}
    assert {p.name for p in (STUDY / "report").glob("*.py")} >= {"assemble.py", "tables.py", "write.py"}
