"""FreeDARTS harness: ZEROS scoring, FreeDARTS pruning, sweeps, Parquet results and paper reports.

Modules:
    zeros      ZEROS operation scores |dL/dalpha * alpha| for one supernet (variants D, labels, random_labels)
    freedarts  Algorithm 1: iterative and one-shot pruning, the per-step trajectory, the NaN guard
    data       input batches: all-ones, real CIFAR-10/100 and ImageNet16-120 batches, random labels
    config     YAML sweep files -> frozen, validated dataclasses
    store      Parquet schema of the cells and trajectory tables, atomic part files, readers
    sweep      `python -m harness.sweep`: grid expansion, resume, the Ray Tune run
    report     `python -m harness.report`: paper tables and figures from Parquet only
    errors     domain errors (each names the input, the valid choices and the fix)
"""

__version__ = "0.1.0"
