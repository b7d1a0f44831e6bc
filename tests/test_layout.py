"""The package's shape: README's commands exist, imports go one way, importing does nothing."""

import ast
import importlib
import os
import re
import subprocess
import sys

import pytest

from pyserini_hybrid.core.files import PROJECT_ROOT

PACKAGE = PROJECT_ROOT / "pyserini_hybrid"
# what each concept may import from the package (README's Layout table); the top-level CLI shims may import anything
ALLOWED = {
    "core": {"core"},
    "data": {"core", "data", "pyserini_glue"},  # pyserini_glue.java only: Pyserini's bundled MIRACL topics need the JVM
    "models": {"core", "models"},
    "pyserini_glue": {"core", "models", "pyserini_glue"},
    "retrieval": {"core", "data", "models", "pyserini_glue", "retrieval"},
    "train": {"core", "data", "models", "pyserini_glue", "retrieval", "train"},  # retrieval: BM25 hard negatives
    "evaluate": {"core", "data", "evaluate"},
    "study": {"core", "data", "models", "pyserini_glue", "retrieval", "train", "evaluate", "study"},
}


def readme_modules(blocks_only: bool = True) -> set[str]:
    """``python -m pyserini_hybrid.<x>`` names in README's code blocks (or anywhere in its text)."""
    text = "\n".join((PROJECT_ROOT / name).read_text(encoding="utf-8") for name in ("README.md", "encoders/README.md"))
    if blocks_only:
        text = "\n".join(re.findall(r"```(?:bash)?\n(.*?)```", text, flags=re.S))
    return set(re.findall(r"python -m (pyserini_hybrid(?:\.\w+)*)", text))


def test_every_readme_command_module_imports():
    names = readme_modules() | readme_modules(blocks_only=False)
    assert {"pyserini_hybrid.train", "pyserini_hybrid.study", "pyserini_hybrid.topics", "pyserini_hybrid.encode"} <= names
    for name in sorted(names):
        module = importlib.import_module(name)
        main = getattr(module, "main", None) or getattr(importlib.import_module(name + ".__main__"), "main", None)
        assert callable(main), name


def _package_imports(path):
    """(line, concept) of every import of a pyserini_hybrid module in ``path``, module level and inside functions."""
    parts = path.relative_to(PACKAGE).parts
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = list(parts[:-1])[:len(parts) - node.level]
            target = base + (node.module.split(".") if node.module else [n.name for n in node.names][:1])
            yield node.lineno, target[0]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("pyserini_hybrid."):
            yield node.lineno, node.module.split(".")[1]


@pytest.mark.parametrize("concept", sorted(ALLOWED))
def test_imports_go_one_way(concept):
    assert (PACKAGE / concept / "__init__.py").read_text(encoding="utf-8").startswith('"""')  # says what it owns
    bad = [f"{path.relative_to(PACKAGE)}:{line} imports {target}"
           for path in sorted((PACKAGE / concept).rglob("*.py"))
           for line, target in _package_imports(path) if target not in ALLOWED[concept]]
    assert not bad


def test_top_level_is_concepts_and_cli_names():
    folders = {p.name for p in PACKAGE.iterdir() if p.is_dir() and p.name != "__pycache__"}
    assert folders == set(ALLOWED) | {"search"}
    readme_top = {n.split(".")[1] for n in readme_modules(blocks_only=False) if n.count(".") >= 1}
    modules = {p.stem for p in PACKAGE.glob("*.py")} - {"__init__"}
    assert modules <= readme_top  # each top-level module is a documented CLI name (a shim)
    for path in PACKAGE.glob("*.py"):
        assert len(path.read_text(encoding="utf-8").splitlines()) <= 12, path.name


def test_no_module_is_long():
    long = [f"{p.relative_to(PACKAGE)} ({n})" for p in PACKAGE.rglob("*.py")
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > 330]
    assert not long


def test_importing_every_module_does_nothing():
    """No JVM, no environment change, no file written, no network client built by an import."""
    names = sorted(".".join(p.relative_to(PROJECT_ROOT).with_suffix("").parts).removesuffix(".__init__")
                   for p in PACKAGE.rglob("*.py") if p.name != "__main__.py")
    code = ("import os, sys; before = dict(os.environ)\n"
            f"for n in {names!r}: __import__(n)\n"
            "assert 'jnius' not in sys.modules, 'a JVM was started'\n"
            "assert dict(os.environ) == before, set(os.environ.items()) ^ set(before.items())\n"
            "print(len(sys.modules))")
    env = {k: v for k, v in os.environ.items() if k != "PYSERINI_HYBRID_PRECISION"}
    proc = subprocess.run([sys.executable, "-c", code],
                          capture_output=True, text=True, cwd=PROJECT_ROOT, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]


def test_no_package_file_is_git_ignored():
    """A source file the repository ignores would be missing from every clone (CI's included)."""
    files = [str(p.relative_to(PROJECT_ROOT)) for p in PACKAGE.rglob("*.py")]
    proc = subprocess.run(["git", "check-ignore", *files], capture_output=True, text=True, cwd=PROJECT_ROOT)
    if proc.returncode == 128:
        pytest.skip("not a git checkout")
    assert proc.stdout.split() == []


def test_committed_reports_hold_no_machine_path():
    """Reports name files relative to the project or the cache, never by this machine's absolute paths."""
    pattern = re.compile(r"(?<![\w.<>-])/(?:work|root|home|tmp|mnt|Users|var)/")
    bad = [f"{p.relative_to(PROJECT_ROOT)}:{n}" for p in sorted((PROJECT_ROOT / "reports").rglob("*"))
           if p.suffix in (".md", ".json") for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
           if pattern.search(line) or str(PROJECT_ROOT) in line]
    assert not bad
