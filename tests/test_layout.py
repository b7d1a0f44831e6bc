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
# what each concept may import from the package (the Layout table, docs/layout.md); the top-level CLI drivers may import anything
ALLOWED = {
    "core": {"core"},
    "data": {"core", "data", "pyserini_glue"},  # .java: Pyserini's bundled MIRACL topics need the JVM; .versions: analyzers
    "models": {"core", "models"},
    "pyserini_glue": {"core", "models", "pyserini_glue"},
    "retrieval": {"core", "data", "models", "pyserini_glue", "retrieval"},
    "train": {"core", "data", "models", "pyserini_glue", "retrieval", "train"},  # retrieval: BM25 hard negatives
    "evaluate": {"core", "data", "evaluate"},
    "study": {"core", "data", "models", "pyserini_glue", "retrieval", "train", "evaluate", "study"},
    "bench": {"core", "data", "models", "pyserini_glue", "retrieval", "train", "evaluate", "bench"},  # no study
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
    modules = {p.stem for p in PACKAGE.glob("*.py")} - {"__init__", "cli_options"}  # cli_options: the drivers' shared flags
    assert modules <= readme_top  # each top-level module is a documented CLI name (a driver)
    for name in modules:
        assert _defines_main(f"pyserini_hybrid.{name}"), name


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


# ------------------------------------------------------------------------------------------ the house rules
def _module(path) -> str:
    return ".".join(path.relative_to(PROJECT_ROOT).with_suffix("").parts).removesuffix(".__init__")


def _imported_modules(path):
    """(line, module, function-local) of every package-internal import in ``path``: relative imports resolved,
    ``from . import x`` read as module ``x`` where it is one."""
    module = _module(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    local = {id(n) for f in ast.walk(tree) if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef))
             for n in ast.walk(f)}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            base = importlib.util.resolve_name("." * node.level + (node.module or ""), package) if node.level \
                else node.module or ""
            if not base.startswith("pyserini_hybrid"):
                continue
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                as_path = PROJECT_ROOT.joinpath(*sub.split("."))
                is_module = as_path.with_suffix(".py").is_file() or (as_path / "__init__.py").is_file()
                yield node.lineno, sub if is_module else base, id(node) in local
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("pyserini_hybrid"):
                    yield node.lineno, alias.name, id(node) in local


def _graph() -> dict[str, set[str]]:
    return {_module(p): {m for _, m, _ in _imported_modules(p) if m != _module(p)} for p in PACKAGE.rglob("*.py")}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle per strongly connected component of more than one module (Tarjan), as a module list."""
    index, low, stack, on, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_cycle_finder_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycle_inside_any_folder():
    """Function-local imports count: hiding a circle behind one is what this rule is against."""
    assert _cycles(_graph()) == []


# Package-internal imports inside functions, each with the reason it is not at module level (what importing
# it at module level would load, or the cycle it would close). Everything else imports at the top.
TORCH = "loads torch, which takes seconds: importing this module must stay cheap for the commands that never encode"
LOCAL_IMPORTS: dict[str, str] = {
    "pyserini_hybrid.bench.speed -> pyserini_hybrid.models.encoder": TORCH + " (the speed script's parent process)",
    "pyserini_hybrid.pyserini_glue.java -> pyserini_hybrid.pyserini_glue.catalogue":
        "the start-up hook imports java in every interpreter; catalogue pulls in urllib.request, needed only where "
        "Pyserini 2.x fetches its catalogue",
    "pyserini_hybrid.pyserini_glue.registry -> pyserini_hybrid.models.text_encoder":
        TORCH + " (registry is imported to check flags before torch or Pyserini load)",
    "pyserini_hybrid.retrieval.dense -> pyserini_hybrid.models.text_encoder": TORCH + " (only query encoding needs it)",
    "pyserini_hybrid.retrieval.dense -> pyserini_hybrid.models.probe": TORCH + " (only a precision decision needs it)",
    "pyserini_hybrid.study.run.produce -> pyserini_hybrid.models.encoder": TORCH + " (study plan and report load the "
                                                                          "runner's modules but never encode)",
    "pyserini_hybrid.study.run.training -> pyserini_hybrid.train.loop": TORCH + " (study plan and report)",
    "pyserini_hybrid.train.__main__ -> pyserini_hybrid.train.loop": TORCH + " (train data and --help)",
}


def test_package_imports_are_module_level_unless_listed():
    found = {f"{_module(p)} -> {m}" for p in PACKAGE.rglob("*.py") for _, m, local in _imported_modules(p) if local}
    assert sorted(found - set(LOCAL_IMPORTS)) == []
    assert sorted(set(LOCAL_IMPORTS) - found) == []  # a stale entry is removed


# The CLI convention (docs/layout.md): drivers own their argparse (the top-level CLI names, the subpackage
# __main__s, Pyserini's mirrors in search/ and encode.py); library modules carry none.
ARGPARSE_ALLOWED: dict[str, str] = {
    "pyserini_hybrid.pyserini_glue.registry": "adds `hybrid` to the --encoder-class choices of Pyserini's own "
                                              "parsers; Pyserini offers no other hook",
}


def _is_driver(path) -> bool:
    rel = path.relative_to(PACKAGE)
    return len(rel.parts) == 1 or path.name == "__main__.py" or rel.parts[0] == "search"


def test_no_library_module_defines_argparse():
    users = {_module(p) for p in PACKAGE.rglob("*.py") if not _is_driver(p)
             and re.search(r"^\s*(import argparse|from argparse import)", p.read_text(encoding="utf-8"), re.M)}
    assert sorted(users - set(ARGPARSE_ALLOWED)) == []
    assert sorted(set(ARGPARSE_ALLOWED) - users) == []


# Functions over 60 lines, each with the reason it stays whole.
LONG_FUNCTIONS: dict[str, str] = {
}
MAX_LINES, MAX_PARAMETERS = 60, 8


def _functions():
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                a = node.args
                params = [*a.posonlyargs, *a.args, *a.kwonlyargs, *filter(None, (a.vararg, a.kwarg))]
                params = [p for p in params if p.arg not in ("self", "cls")]
                yield f"{_module(path)}.{node.name}", node.end_lineno - node.lineno + 1, len(params)


def test_functions_are_short_and_take_few_parameters():
    long = {name for name, lines, _ in _functions() if lines > MAX_LINES}
    assert sorted(long - set(LONG_FUNCTIONS)) == []
    assert sorted(set(LONG_FUNCTIONS) - long) == []
    assert [f"{name} ({n})" for name, _, n in _functions() if n > MAX_PARAMETERS] == []
