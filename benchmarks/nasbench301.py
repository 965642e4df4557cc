"""NAS-Bench-301, the OFFICIAL surrogate (`nasbench301` 0.3, automl), run in an isolated environment.

What it answers: the CIFAR-10 validation accuracy (percent) that NAS-Bench-301's surrogate ensemble
predicts for a DARTS-space genotype (`api.predict(genotype, "genotype", with_noise)`); the test error
the FreeDARTS paper's Table 5 reports is 100 minus it (spec §5.3). Keys are the DARTS genotype
strings of `spaces.darts` (`Genotype(normal=[...], normal_concat=[2, 3, 4, 5], ...)`).

Why isolated: `nasbench301` needs numpy<2 (ConfigSpace 0.6.1 reads its config space), lightgbm 3.x,
xgboost, torch-geometric and more (shared/BENCHMARK_APIS.md §3); the harness runs on numpy 2. So
the package lives in its own virtual environment, built once from `REQUIREMENTS` and cached
outside the repo (`benchmarks/_sidecar_env.py`), and a worker process in it
(`benchmarks/_nb301_sidecar.py`) answers JSON requests over a pipe. The harness process never
imports it and keeps its numpy.

Set up and point it at the models:

1. `python -m benchmarks.nasbench301 setup` builds the environment (once; ~1-2 min with a warm pip
   cache, see README) and prints its path. `$FREEDARTS_ENVS` moves the environments folder.
2. Download `nb_models_1.0.zip` (figshare, linked from github.com/automl/nasbench301) and unzip it;
   it holds `gnn_gin_v1.0/`, `xgb_v1.0/`, `lgb_runtime_v1.0/`, ...
3. Either put `nb_models_1.0/` under `$HARNESS_DATA/nasbench301/` (the sweep then finds
   `gnn_gin_v1.0`, the paper's GIN surrogate) or name a model directory in the sweep
   (`benchmark_table: /path/nb_models_1.0/xgb_v1.0`). Then
   `python -m benchmarks.nasbench301 lookup <model_dir> "<genotype string>"` answers one lookup.

`with_noise` is False by default (deterministic); `open_table(model_dir, with_noise=True, seed=s)`
makes each lookup draw the surrogate's noise from a generator seeded with (s, genotype), never the
global one. Lookups are cached per genotype. Torch-scatter / torch-cluster are stubbed (only the
`deeper_gnn` surrogate needs them).
"""

from __future__ import annotations

import argparse
import atexit
import functools
import hashlib
import json
import logging
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from archcodec import darts as darts_key
from benchmarks._columns import MetricColumn
from benchmarks._sidecar_env import EnvSpec, build_info, ensure_env, env_dir, is_built
from benchmarks.errors import ArchNotInBenchmarkError, BenchmarkError, BenchmarkTableMissingError

log = logging.getLogger(__name__)

NAME = "nasbench301"
VERSION = "nasbench301 0.3, nb_models_1.0"
REQUIREMENTS: tuple[str, ...] = (  # shared/BENCHMARK_APIS.md §3, with torch-scatter/torch-cluster stubbed
    "torch==2.13.0",
    "numpy==1.26.4",
    "nasbench301==0.3",
    "ConfigSpace==0.6.1",
    "xgboost-cpu==3.2.0",
    "lightgbm==3.3.5",
    "scikit-learn==1.9.1",
    "scipy==1.17.1",
    "pandas==2.3.3",
    "matplotlib==3.11.2",
    "seaborn==0.13.2",
    "torch-geometric==2.8.1",
    "h5py==3.16.0",
    "networkx==3.6.1",
    "tqdm==4.70.1",
    "ipython==9.18.1",
    "pathvalidate==3.3.1",
    "requests==2.34.2",
)
ENV = EnvSpec("nb301", REQUIREMENTS)
WORKER = Path(__file__).with_name("_nb301_sidecar.py")
MODEL_DIRS: tuple[str, ...] = ("gnn_gin_v1.0", "xgb_v1.0")  # resolve_table's preference order (paper: GIN)
SETUP_COMMAND = "python -m benchmarks.nasbench301 setup"
OBTAIN_HINT = (
    "download nb_models_1.0.zip (figshare, linked from github.com/automl/nasbench301), unzip it under "
    "$HARNESS_DATA/nasbench301/ or set `benchmark_table:` to one of its model dirs (e.g. .../gnn_gin_v1.0); "
    f"run `{SETUP_COMMAND}` once to build the isolated environment"
)
METRIC_COLUMNS: tuple[MetricColumn, ...] = (
    MetricColumn("nb301_val_acc", "float64",
                 "NAS-Bench-301 official surrogate (nasbench301 0.3) predicted CIFAR-10 validation accuracy, "
                 "percent, 100 epochs DARTS training pipeline; `with_noise` as recorded", predicted=True, headline=("*",)),
    MetricColumn("nb301_val_err", "float64",
                 "100 - nb301_val_acc (the 'test error' of the FreeDARTS paper's Table 5, spec §5.3)", predicted=True),
)
METRIC_SEMANTICS = {c.name: c.meaning for c in METRIC_COLUMNS}


class SidecarError(BenchmarkError, RuntimeError):
    """The isolated nasbench301 worker failed to start or answered with an error."""


def _model_kind(model_dir: Path) -> str:
    members = sorted(model_dir.rglob("*surrogate_model.model"))
    if not members or not (members[0].parent / "model_config.json").is_file():
        raise BenchmarkTableMissingError(
            NAME, str(model_dir),
            f"it must be an nb_models_1.0 model directory (e.g. gnn_gin_v1.0) holding "
            f"*/surrogate_model.model and model_config.json; fix: {OBTAIN_HINT}")
    return str(json.loads((members[0].parent / "model_config.json").read_text()).get("model", "unknown"))


def model_hash(model_dir: Path) -> str:
    """sha256 over the ensemble's files (relative path + bytes): the provenance of every lookup."""
    digest = hashlib.sha256()
    for path in sorted(p for p in Path(model_dir).rglob("*") if p.is_file()):
        if path.name.endswith(".model") or path.suffix == ".json":
            digest.update(str(path.relative_to(model_dir)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


class Sidecar:
    """One worker process inside the isolated environment; requests are serialised by a lock."""

    def __init__(self, python: Path) -> None:
        self.python = Path(python)
        self._lock = threading.Lock()
        self._proc = subprocess.Popen([str(self.python), "-I", str(WORKER)], stdin=subprocess.PIPE,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, bufsize=1)
        self._stderr: list[str] = []
        threading.Thread(target=self._drain, daemon=True).start()
        atexit.register(self.close)

    def _drain(self) -> None:
        assert self._proc.stderr is not None
        for line in self._proc.stderr:
            self._stderr.append(line.rstrip())
            del self._stderr[:-50]
            log.debug("nb301 sidecar: %s", line.rstrip())

    def request(self, **req: Any) -> dict[str, Any]:
        with self._lock:
            if self._proc.poll() is not None:
                raise SidecarError(f"the nasbench301 worker ({self.python}) exited with {self._proc.returncode}; "
                                   f"its last output: {' | '.join(self._stderr[-3:])}; fix: rerun `{SETUP_COMMAND}`")
            assert self._proc.stdin is not None and self._proc.stdout is not None
            self._proc.stdin.write(json.dumps(req) + "\n")
            self._proc.stdin.flush()
            line = self._proc.stdout.readline()
        if not line:
            raise SidecarError(f"the nasbench301 worker ({self.python}) died during {req.get('op')!r}; "
                               f"its last output: {' | '.join(self._stderr[-3:])}; fix: rerun `{SETUP_COMMAND}`")
        reply = json.loads(line)
        if not reply.pop("ok", False):
            raise SidecarError(f"nasbench301 {req.get('op')} failed in the isolated environment: {reply.get('error')}")
        return reply

    def close(self) -> None:
        if self._proc.poll() is None:
            try:
                assert self._proc.stdin is not None
                self._proc.stdin.close()
                self._proc.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                self._proc.kill()


@dataclass(eq=False)
class NB301Table:
    """The official surrogate of one model directory, behind the runner's table interface."""

    path: Path
    metadata: dict[str, Any]
    sidecar: Sidecar = field(repr=False)
    with_noise: bool = False
    seed: int = 0
    _cache: dict[str, dict[str, float]] = field(default_factory=dict, repr=False)

    @property
    def sha256(self) -> str:
        """sha256 of the model directory's files (`model_hash`)."""
        return str(self.metadata["model_sha256"])

    def lookup(self, arch_key: str) -> dict[str, float]:
        """{nb301_val_acc, nb301_val_err} for a DARTS genotype string; cached per genotype."""
        hit = self._cache.get(arch_key)
        if hit is not None:
            return dict(hit)
        try:
            genotype = darts_key.parse(arch_key)
        except ValueError as exc:
            raise ArchNotInBenchmarkError(arch_key, str(self.path), hint=str(exc)) from None
        seed = int(hashlib.sha256(f"{self.seed}|{arch_key}".encode()).hexdigest()[:8], 16)
        reply = self.sidecar.request(op="predict", genotype=genotype, with_noise=self.with_noise, seed=seed)
        acc = float(reply["val_accuracy"])
        values = {"nb301_val_acc": acc, "nb301_val_err": 100.0 - acc}
        self._cache[arch_key] = values
        return dict(values)


@functools.lru_cache(maxsize=4)
def _sidecar(python: str) -> Sidecar:
    return Sidecar(Path(python))


def open_table(model_dir: Path, *, with_noise: bool = False, seed: int = 0, build: bool = True) -> NB301Table:
    """Start (or reuse) the isolated worker and load the ensemble in `model_dir`.

    Raises:
        BenchmarkTableMissingError: `model_dir` is not an nb_models_1.0 model directory (names it and the fix).
        SidecarError / SidecarEnvError: the environment is missing (with build=False) or failed.
    """
    model_dir = Path(model_dir).expanduser().resolve()
    if not model_dir.is_dir():
        raise BenchmarkTableMissingError(NAME, str(model_dir), f"no such directory; fix: {OBTAIN_HINT}")
    kind = _model_kind(model_dir)
    if not build and not is_built(ENV):
        raise SidecarError(f"the isolated nasbench301 environment {env_dir(ENV)} is not built; fix: run `{SETUP_COMMAND}`")
    python = ensure_env(ENV)
    sidecar = _sidecar(str(python))
    loaded = sidecar.request(op="load", model_dir=str(model_dir))
    metadata = {
        "benchmark": NAME, "version": VERSION, "source": f"{VERSION} ({kind}): {model_dir}", "model": kind,
        "members": loaded["members"], "model_sha256": model_hash(model_dir), "with_noise": with_noise,
        "seed": seed, "sidecar_python": str(python), "sidecar_versions": loaded["versions"],
        "metrics": METRIC_SEMANTICS,
        "citation": "J. Siems, L. Zimmer, A. Zela, J. Lukasik, M. Keuper and F. Hutter, "
                    "NAS-Bench-301 and the Case for Surrogate Benchmarks for Neural Architecture Search, 2020",
    }
    return NB301Table(path=model_dir, metadata=metadata, sidecar=sidecar, with_noise=with_noise, seed=seed)


def resolve_table(data_root: Path, cache_root: Path, configured: Path | None = None) -> Path | None:
    """The model directory: `configured`, else the first of `MODEL_DIRS` under <data>/nasbench301[/nb_models_1.0]."""
    if configured is not None:
        return Path(configured)
    for base in (Path(data_root) / "nasbench301" / "nb_models_1.0", Path(data_root) / "nasbench301",
                 Path(data_root) / "nb_models_1.0"):
        for name in MODEL_DIRS:
            if (base / name).is_dir():
                return base / name
    return None


def convert(source: Path, out_dir: Path) -> Path:
    """Nothing to convert: a surrogate is queried, not tabulated. Validates `source` and returns it."""
    _model_kind(Path(source))
    return Path(source)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.nasbench301",
                                     description="The isolated official NAS-Bench-301 surrogate.")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("setup", help="build (or reuse) the isolated environment and print its python")
    look = sub.add_parser("lookup", help="predict one genotype with a model directory")
    look.add_argument("model_dir", type=Path)
    look.add_argument("genotype", help="a spaces.darts genotype string")
    look.add_argument("--with-noise", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        if args.command == "setup":
            python = ensure_env(ENV)
            print(python)
            print(json.dumps({k: v for k, v in build_info(ENV).items() if k != "freeze"}))
        else:
            print(json.dumps(open_table(args.model_dir, with_noise=args.with_noise).lookup(args.genotype)))
    except (BenchmarkError, RuntimeError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
