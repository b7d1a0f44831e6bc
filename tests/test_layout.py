"""The package's shape: the manual's commands and links exist, imports go one way, importing does nothing."""

import ast
import importlib.util
import os
import re
import subprocess
import sys

import pytest

from pyserini_hybrid.core.files import PROJECT_ROOT

PACKAGE = PROJECT_ROOT / "pyserini_hybrid"
# what each concept may import from the package (the Layout table, docs/layout.md); the top-level CLI shims may import anything
ALLOWED = {
    "core": {"core"},
    "data": {"core", "data", "pyserini_glue"},  # .java: Pyserini's bundled MIRACL topics need the JVM; .versions: analyzers
    "models": {"core", "models"},
    "pyserini_glue": {"core", "models", "pyserini_glue"},
    "retrieval": {"core", "data", "models", "pyserini_glue", "retrieval"},
    "train": {"core", "data", "models", "pyserini_glue", "retrieval", "train"},  # retrieval: BM25 hard negatives
    "evaluate": {"core", "data", "evaluate"},
    "study": {"core", "data", "models", "pyserini_glue", "retrieval", "train", "evaluate", "study"},
}


# the manual: README.md (the front door) and one page per topic in docs/; encoders/README.md for the recipes
MANUAL = [PROJECT_ROOT / "README.md", *sorted((PROJECT_ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^```[^\n]*\n(.*?)^```", flags=re.S | re.M)


def _text(paths) -> str:
    return "\n".join(p.read_text(encoding="utf-8") for p in paths)


def readme_modules(blocks_only: bool = True, paths=None) -> set[str]:
    """``python -m pyserini_hybrid.<x>`` names in the manual's code blocks (or anywhere in its text)."""
    text = _text(paths or [*MANUAL, PROJECT_ROOT / "encoders" / "README.md"])
    if blocks_only:
        text = "\n".join(FENCE.findall(text))
    return set(re.findall(r"python -m (pyserini_hybrid(?:\.\w+)*)", text))


def _code(text: str) -> str:
    """The code of a Markdown text: its fenced blocks and its inline code spans."""
    blocks = FENCE.findall(text)
    spans = re.findall(r"`([^`\n]+)`", FENCE.sub("", text))
    return "\n".join(blocks + spans)


def _defines_main(module: str, seen: frozenset = frozenset()) -> bool:
    """Whether ``module`` has a top-level ``main``: defined, assigned, or imported from a module that has one
    (read from the source with ast, so no module is imported and no torch is loaded)."""
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.origin or not spec.origin.endswith(".py") or module in seen:
        return False
    tree = ast.parse(open(spec.origin, encoding="utf-8").read())
    package = module if spec.submodule_search_locations else module.rpartition(".")[0]
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == "main":
            return True
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "main" for t in node.targets):
            return True
        if isinstance(node, ast.ImportFrom) and any((a.asname or a.name) == "main" for a in node.names):
            source = importlib.util.resolve_name("." * node.level + (node.module or ""), package) \
                if node.level else node.module
            return _defines_main(source, seen | {module})
    return False


def _runs_main(path: str) -> bool:
    """Whether the file has an ``if __name__ == "__main__":`` block."""
    tree = ast.parse(open(path, encoding="utf-8").read())
    return any(isinstance(n, ast.If) and isinstance(n.test, ast.Compare) and isinstance(n.test.left, ast.Name)
               and n.test.left.id == "__name__" for n in tree.body)


def module_problem(name: str) -> str | None:
    """Why ``python -m name`` would not run a main, or None when it would."""
    try:
        spec = importlib.util.find_spec(name)
    except ModuleNotFoundError:
        spec = None
    if spec is None:
        return f"{name}: no such module"
    if spec.submodule_search_locations is not None:  # a package: python -m runs its __main__
        name += ".__main__"
        spec = importlib.util.find_spec(name)
        if spec is None:
            return f"{name}: the package has no __main__"
    if not _defines_main(name):
        return f"{name}: no main"
    if not _runs_main(spec.origin):
        return f"{name}: no `if __name__ == \"__main__\"` block"
    return None


def test_every_manual_command_module_has_a_main():
    names = readme_modules() | readme_modules(blocks_only=False)
    assert {"pyserini_hybrid.train", "pyserini_hybrid.study", "pyserini_hybrid.topics", "pyserini_hybrid.encode",
            "pyserini_hybrid.evaluate", "pyserini_hybrid.search.faiss"} <= names
    assert [p for name in sorted(names) if (p := module_problem(name))] == []


def study_actions() -> set[str]:
    """The study CLI's subcommands, read from its parser (``sub.add_parser("plan", ...)``)."""
    tree = ast.parse((PACKAGE / "study" / "__main__.py").read_text(encoding="utf-8"))
    return {n.args[0].value for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)
            and n.func.attr == "add_parser" and n.args and isinstance(n.args[0], ast.Constant)}


def test_every_study_command_in_the_manual_names_an_action():
    """``python -m pyserini_hybrid.study FILE [options] {plan,run,report,import}``: a command without one would fail."""
    actions = study_actions()
    assert actions == {"plan", "run", "report", "import"}
    bad = [f"{p.name}: {c.strip()}" for p in MANUAL
           for c in re.findall(r"python -m pyserini_hybrid\.study\b([^\n#`]*)", _code(p.read_text(encoding="utf-8")))
           if c.strip() and not actions & set(c.split())]
    assert bad == []


def makefile_targets() -> set[str]:
    targets = set()
    for line in (PROJECT_ROOT / "Makefile").read_text(encoding="utf-8").splitlines():
        m = re.match(r"^([^\s#:=$][^:=$]*?)\s*:(?!=)", line)
        if m and not line.startswith("."):
            targets.update(m.group(1).split())
    return targets


def test_every_make_target_in_the_manual_exists():
    targets = makefile_targets()
    assert {"env", "demo", "test"} <= targets
    named = {(p.name, t) for p in MANUAL
             for t in re.findall(r"(?:^|[\s;&|(])make\s+([A-Za-z][\w.-]*)", _code(p.read_text(encoding="utf-8")), re.M)}
    assert {t for _, t in named} >= {"demo", "test"}
    assert sorted(f"{page}: make {t}" for page, t in named if t not in targets) == []


def _anchor(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, code and link marks dropped, punctuation removed,
    spaces to hyphens."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading).replace("`", "").strip().lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def _anchors(path) -> set[str]:
    out, counts = set(), {}
    for heading in re.findall(r"^#{1,6}\s+(.+?)\s*#*\s*$", FENCE.sub("", path.read_text(encoding="utf-8")), re.M):
        a = _anchor(heading)
        out.add(f"{a}-{counts[a]}" if a in counts else a)
        counts[a] = counts.get(a, 0) + 1
    return out


def test_every_relative_link_in_the_manual_resolves():
    assert (PROJECT_ROOT / "docs" / "study.md") in MANUAL
    bad = []
    for page in MANUAL:
        text = FENCE.sub("", page.read_text(encoding="utf-8"))
        text = re.sub(r"`[^`\n]+`", "", text)  # code spans are not links
        for target in re.findall(r"\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)", text):
            if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I):  # http:, https:, mailto:
                continue
            path, _, anchor = target.partition("#")
            dest = (page.parent / path).resolve() if path else page
            where = f"{page.relative_to(PROJECT_ROOT)}: ({target})"
            if not dest.is_file():
                bad.append(f"{where} is not a file")
            elif anchor and dest.suffix == ".md" and anchor not in _anchors(dest):
                bad.append(f"{where}: no heading #{anchor}")
    assert bad == []


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
