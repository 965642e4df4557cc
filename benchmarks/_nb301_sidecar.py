"""The NAS-Bench-301 sidecar worker: runs INSIDE the isolated nasbench301 environment, never in the harness.

`benchmarks.nasbench301` starts it as `<sidecar python> -I benchmarks/_nb301_sidecar.py` (isolated
mode, so this folder's `nasbench301.py` cannot shadow the official package) and talks to it with
one JSON object per line:

    -> {"op": "load", "model_dir": "/path/nb_models_1.0/gnn_gin_v1.0"}
    <- {"ok": true, "model": "gnn_gin", "members": 10, "versions": {...}}
    -> {"op": "predict", "genotype": {"normal": [["sep_conv_3x3", 0], ...], "normal_concat": [2, 3, 4, 5],
                                      "reduce": [...], "reduce_concat": [2, 3, 4, 5]},
        "with_noise": false, "seed": 0}
    <- {"ok": true, "val_accuracy": 94.1}
    -> {"op": "versions"}            <- {"ok": true, "versions": {"nasbench301": "0.3", "numpy": "1.26.4", ...}}
    <- {"ok": false, "error": "ValueError: ..."}   (any failure; the worker keeps serving)

Only the standard library is imported before a request arrives. `torch_scatter` / `torch_cluster`
(compiled, sdist-only) are replaced by stub modules that fail when *called*; they are needed only
by the `deeper_gnn` surrogate code path, never by the v1.0 gnn_gin / xgb / lgb ensembles.
`with_noise=True` draws from numpy's global RNG inside the package; the worker seeds it with the
request's `seed` for that one call and restores its previous state, so a noisy lookup is a
function of (genotype, seed) and nothing else.
"""

import json
import os
import sys
import types
from importlib import metadata

_VERSIONED = ("nasbench301", "numpy", "ConfigSpace", "xgboost-cpu", "lightgbm", "torch", "torch-geometric",
              "scikit-learn")


def _stub(name):
    def missing(*_args, **_kwargs):
        raise NotImplementedError(f"{name} is a stub in the FreeDARTS nasbench301 sidecar; the deeper_gnn "
                                  "surrogate needs the compiled package (pip install --no-build-isolation " + name + ")")

    mod = types.ModuleType(name)
    mod.__getattr__ = lambda attr: missing  # PEP 562: `from torch_scatter import scatter_add` gets a stub
    mod.__path__ = []  # importable as a package (`import torch_cluster.x` resolves through sys.modules only)
    return mod


def _import_nasbench301():
    import torch_geometric  # noqa: F401  (first: PyG must see NO torch_scatter/torch_cluster and skip them)

    for name in ("torch_scatter", "torch_cluster"):
        try:
            __import__(name)
        except ImportError:
            sys.modules[name] = _stub(name)
    import nasbench301

    return nasbench301


def _versions():
    out = {"python": sys.version.split()[0]}
    for dist in _VERSIONED:
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = None
    return out


class _Server:
    def __init__(self):
        self.api = None
        self.model = None

    def load(self, req):
        import pathlib

        model_dir = pathlib.Path(req["model_dir"])
        nb = _import_nasbench301()
        members = sorted(model_dir.rglob("*surrogate_model.model"))
        if not members:
            raise FileNotFoundError(f"{model_dir} holds no ensemble member (no */surrogate_model.model)")
        config = json.loads((members[0].parent / "model_config.json").read_text())
        self.api = nb.load_ensemble(str(model_dir))
        self.model = config.get("model")
        return {"model": self.model, "members": len(members), "versions": _versions()}

    def predict(self, req):
        import collections

        import numpy as np

        if self.api is None:
            raise RuntimeError("no surrogate loaded; send {'op': 'load', 'model_dir': ...} first")
        g = req["genotype"]
        genotype_t = collections.namedtuple("Genotype", "normal normal_concat reduce reduce_concat")
        genotype = genotype_t(normal=[(op, int(i)) for op, i in g["normal"]], normal_concat=list(g["normal_concat"]),
                              reduce=[(op, int(i)) for op, i in g["reduce"]], reduce_concat=list(g["reduce_concat"]))
        with_noise = bool(req.get("with_noise", False))
        state = np.random.get_state()
        try:
            if with_noise:
                np.random.seed(int(req.get("seed", 0)) % (2**32))
            value = self.api.predict(config=genotype, representation="genotype", with_noise=with_noise)
        finally:
            np.random.set_state(state)
        return {"val_accuracy": float(np.asarray(value).reshape(-1)[0])}

    def handle(self, req):
        op = req.get("op")
        if op == "load":
            return self.load(req)
        if op == "predict":
            return self.predict(req)
        if op == "versions":
            _import_nasbench301()
            return {"versions": _versions()}
        raise ValueError(f"unknown op {op!r}; valid: load, predict, versions")


def main():
    # The protocol owns the real stdout; everything the package prints goes to stderr.
    proto = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    server = _Server()
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            reply = {"ok": True, **server.handle(json.loads(line))}
        except Exception as exc:  # noqa: BLE001  (any failure is answered, the worker keeps serving)
            reply = {"ok": False, "error": f"{type(exc).__name__}: {' '.join(str(exc).split())}"}
        proto.write(json.dumps(reply) + "\n")
        proto.flush()


if __name__ == "__main__":
    main()
