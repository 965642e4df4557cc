"""Isolated Python environments for benchmark APIs whose pins clash with the harness (NAS-Bench-301).

The official `nasbench301` package needs numpy<2 (ConfigSpace 0.6.1), lightgbm 3.x and friends,
while the harness runs on numpy 2 / pandas 3. So the harness never imports it: it builds a
separate virtual environment from a fixed requirement list and talks to a worker process inside it.

    python -m benchmarks.nasbench301 setup        # build (or reuse) the environment; prints its path

Where: `$FREEDARTS_ENVS/<name>-<hash>/`, default `~/.cache/freedarts/envs/`, where `<hash>` is the
sha256 of the requirement list and the Python version, so changing a pin builds a new environment
and an unchanged one is reused across checkouts, test runs and sweeps. A build holds a file lock
(two processes never build the same environment at once) and writes `freedarts-env.json` (pins,
`pip freeze`, build seconds) LAST: a folder without it is an unfinished build and is rebuilt.
Builds use the ordinary `pip` of the new environment, with whatever index / wheel configuration
pip has on this machine.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

ENVS_VAR = "FREEDARTS_ENVS"
MARKER = "freedarts-env.json"


class SidecarEnvError(RuntimeError):
    """An isolated environment could not be built; the message names the failing step and the fix."""


@dataclass(frozen=True)
class EnvSpec:
    """A named, pinned environment."""

    name: str
    requirements: tuple[str, ...]

    @property
    def digest(self) -> str:
        blob = "\n".join([f"python{sys.version_info.major}.{sys.version_info.minor}", *self.requirements])
        return hashlib.sha256(blob.encode()).hexdigest()[:12]


def envs_root() -> Path:
    """`$FREEDARTS_ENVS`, else `~/.cache/freedarts/envs` (kept outside the repo and the table cache)."""
    env = os.environ.get(ENVS_VAR)
    return Path(env).expanduser().resolve() if env else Path("~/.cache/freedarts/envs").expanduser()


def env_dir(spec: EnvSpec, root: Path | None = None) -> Path:
    return (root or envs_root()) / f"{spec.name}-{spec.digest}"


def env_python(directory: Path) -> Path:
    return directory / "bin" / "python"


def is_built(spec: EnvSpec, root: Path | None = None) -> bool:
    directory = env_dir(spec, root)
    return (directory / MARKER).is_file() and env_python(directory).exists()


def build_info(spec: EnvSpec, root: Path | None = None) -> dict:
    """The marker of a finished build (pins, freeze, build seconds); {} when not built."""
    marker = env_dir(spec, root) / MARKER
    return json.loads(marker.read_text()) if marker.is_file() else {}


def _run(cmd: list[str], step: str, spec: EnvSpec, log_file: Path) -> None:
    with log_file.open("a") as fh:
        fh.write(f"$ {' '.join(cmd)}\n")
        fh.flush()
        proc = subprocess.run(cmd, stdout=fh, stderr=subprocess.STDOUT, check=False)
    if proc.returncode != 0:
        tail = " | ".join(log_file.read_text(errors="replace").strip().splitlines()[-3:])
        raise SidecarEnvError(f"building the {spec.name} environment failed at {step} (exit {proc.returncode}); "
                              f"last lines: {tail[-400:]}; full log: {log_file}; fix: check pip can reach the "
                              f"pinned packages, then rerun `python -m benchmarks.nasbench301 setup`")


def ensure_env(spec: EnvSpec, root: Path | None = None) -> Path:
    """Path of the environment's python, building the environment first if needed (minutes once)."""
    directory = env_dir(spec, root)
    if is_built(spec, root):
        return env_python(directory)
    directory.parent.mkdir(parents=True, exist_ok=True)
    lock_path = directory.parent / f".{directory.name}.lock"
    with lock_path.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # a concurrent builder finishes first; we then reuse its build
        if is_built(spec, root):
            return env_python(directory)
        if directory.exists():
            shutil.rmtree(directory)  # an unfinished build
        log.warning("building the isolated %s environment in %s (pip, minutes; once per requirement set)",
                    spec.name, directory)
        t0 = time.perf_counter()
        directory.mkdir(parents=True)
        log_file = directory / "build.log"
        req_file = directory / "requirements.txt"
        req_file.write_text("\n".join(spec.requirements) + "\n")
        _run([sys.executable, "-m", "venv", str(directory)], "python -m venv", spec, log_file)
        py = str(env_python(directory))
        _run([py, "-m", "pip", "install", "--no-input", "-r", str(req_file)], "pip install", spec, log_file)
        freeze = subprocess.run([py, "-m", "pip", "freeze"], capture_output=True, text=True, check=False).stdout
        seconds = time.perf_counter() - t0
        info = {"name": spec.name, "digest": spec.digest, "requirements": list(spec.requirements),
                "python": sys.version.split()[0], "build_s": round(seconds, 1),
                "freeze": freeze.strip().splitlines()}
        (directory / MARKER).write_text(json.dumps(info, indent=2) + "\n")  # last: marks the build complete
        log.warning("built %s in %.0f s", directory, seconds)
        return env_python(directory)
