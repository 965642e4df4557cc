"""Train a tiny REAL NAS-Bench-301 XGB ensemble with the package's own `Ensemble` code (test fixture).

Runs INSIDE the isolated nasbench301 environment (the harness never imports nasbench301):

    <sidecar python> -I tests/nb301_tiny_surrogate.py OUT_DIR [N_RESULTS]

Writes N_RESULTS synthetic result JSONs in NB301's format (config = the package's
`fixed_hyperparameters` + `convert_genotype_to_config(genotype)`, val accuracy a deterministic
function of the op counts so the surrogate has something to learn), trains a 2-member XGB bagging
ensemble whose members differ (column subsampling by member seed, so `with_noise` has a spread)
(`Ensemble(member_model_name="xgb", ...)`, `.train()`, `.save()`) into OUT_DIR/model, and
prints one JSON line {"model_dir": ..., "n_results": ...}. The boosters are tied to the installed
xgboost, which is why tests build this at test time instead of committing it.
"""

import collections
import json
import os
import random
import sys
import types


def _stubs():
    import torch_geometric  # noqa: F401  (first: PyG must not see the stubs)

    for name in ("torch_scatter", "torch_cluster"):
        mod = types.ModuleType(name)
        mod.__getattr__ = lambda attr: None
        mod.__path__ = []
        sys.modules.setdefault(name, mod)


def main(out_dir: str, n: int) -> None:
    proto = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)  # the package prints; keep stdout for our one JSON line
    _stubs()
    from nasbench301 import api, representations
    from nasbench301.surrogate_models.ensemble import Ensemble

    genotype_t = collections.namedtuple("Genotype", "normal normal_concat reduce reduce_concat")
    ops = ["max_pool_3x3", "avg_pool_3x3", "skip_connect", "sep_conv_3x3", "sep_conv_5x5", "dil_conv_3x3",
           "dil_conv_5x5"]
    rng = random.Random(0)
    data_root = os.path.join(out_dir, "data")
    os.makedirs(os.path.join(data_root, "rs"), exist_ok=True)
    for i in range(n):
        cells = []
        for _ in range(2):
            pairs = []
            for node in range(4):
                for src in rng.sample(range(node + 2), 2):
                    pairs.append((rng.choice(ops), src))
            cells.append(pairs)
        g = genotype_t(cells[0], [2, 3, 4, 5], cells[1], [2, 3, 4, 5])
        config = {**api.fixed_hyperparameters, **representations.convert_genotype_to_config(g)}
        convs = sum(op.startswith(("sep", "dil")) for op, _ in cells[0] + cells[1])
        val = 88.0 + 0.4 * convs + rng.uniform(-0.2, 0.2)
        result = {"optimized_hyperparamater_config": config, "info": [{"val_accuracy": val}],
                  "test_accuracy": val - 0.5, "runtime": 3000.0 + 100 * convs}
        with open(os.path.join(data_root, "rs", f"results_{i:03d}.json"), "w") as fh:
            json.dump(result, fh)
    model_config = {"model": "xgb", "param:objective": "reg:squarederror", "param:eval_metric": "rmse",
                    "param:num_rounds": 30, "early_stopping_rounds": 10, "param:booster": "gbtree",
                    "param:max_depth": 3, "param:min_child_weight": 1, "param:colsample_bytree": 0.5,
                    "param:colsample_bylevel": 1.0, "param:lambda": 1.0, "param:alpha": 0.0,
                    "param:learning_rate": 0.3, "param:bananas_enc": False}
    data_config = {"train_val_test_split_rs": {"train": 0.7, "val": 0.15, "test": 0.15,
                                               "filepath_regex": "rs/results_*.json",
                                               "type": "all_result_paths"}}
    model_dir = os.path.join(out_dir, "model")
    ensemble = Ensemble(member_model_name="xgb", data_root=data_root, log_dir=model_dir, starting_seed=6,
                        model_config=model_config, data_config=data_config, ensemble_size=2)
    ensemble.train()
    ensemble.save()
    proto.write(json.dumps({"model_dir": model_dir, "n_results": n}) + "\n")
    proto.flush()


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 60)
