"""The DARTS-space arch key as the NAS-Bench-301 benchmarks read it (benchmarks never import `spaces`).

The key is the string `spaces.darts.Genotype.arch_str()` writes, the `repr` of the DARTS
`Genotype` namedtuple with lists (the form of DARTS' `genotypes.py` and NB301's examples):

    Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ...8 pairs], normal_concat=[2, 3, 4, 5],
             reduce=[...8 pairs], reduce_concat=[2, 3, 4, 5])

Pairs 2k and 2k+1 are the two inputs of intermediate node k+2 (inputs 0 and 1 are the cell inputs,
2.. earlier nodes); ops are the 7 non-`none` DARTS ops. `parse` validates a key and returns plain
lists (what the NB301 sidecar and the YAHPO encoder need); any defect raises ValueError naming it.
`from_cells` checks pairs read from a data file the same way, and `format_key` writes the key back
(the benchmark tables store keys in that form).
"""

from __future__ import annotations

import ast
import re

OPS: tuple[str, ...] = ("max_pool_3x3", "avg_pool_3x3", "skip_connect", "sep_conv_3x3", "sep_conv_5x5",
                        "dil_conv_3x3", "dil_conv_5x5")
CONCAT = [2, 3, 4, 5]
FORMAT = ("Genotype(normal=[(op, input) x8], normal_concat=[2, 3, 4, 5], reduce=[(op, input) x8], "
          "reduce_concat=[2, 3, 4, 5]) with op in " + ", ".join(OPS))
_RE = re.compile(r"^Genotype\(normal=(\[.*?\]),\s*normal_concat=(\[.*?\]),\s*reduce=(\[.*?\]),\s*"
                 r"reduce_concat=(\[.*?\])\)$", re.S)


def parse(key: str) -> dict[str, list]:
    """{"normal": [[op, input], ...8], "normal_concat": [2..5], "reduce": [...], "reduce_concat": [...]}."""
    m = _RE.match(key.strip()) if isinstance(key, str) else None
    if not m:
        raise ValueError(f"not a DARTS genotype string; expected {FORMAT}")
    out: dict[str, list] = {}
    for name, text in zip(("normal", "normal_concat", "reduce", "reduce_concat"), m.groups()):
        try:
            value = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            raise ValueError(f"{name}={text[:60]!r} is not a literal list; expected {FORMAT}") from None
        out[name] = value
    for cell in ("normal", "reduce"):
        if list(out[f"{cell}_concat"]) != CONCAT:
            raise ValueError(f"{cell}_concat is {out[f'{cell}_concat']}, the DARTS space concatenates {CONCAT}")
        out[cell] = _clean_cell(cell, out[cell])
    return out


def _clean_cell(cell: str, pairs: object) -> list[list]:
    """The 8 [op, input] pairs of one cell, checked against the space; ValueError names the defect."""
    if not isinstance(pairs, list | tuple) or len(pairs) != 8:
        raise ValueError(f"{cell} has {len(pairs) if isinstance(pairs, list | tuple) else pairs!r} pairs, needs 8 "
                         "(two inputs for each of the 4 intermediate nodes)")
    clean = []
    for k, pair in enumerate(pairs):
        if not (isinstance(pair, tuple | list) and len(pair) == 2 and isinstance(pair[1], int)):
            raise ValueError(f"{cell}[{k}]={pair!r} is not an (op, input) pair")
        op, src = pair
        node = k // 2 + 2
        if op not in OPS:
            raise ValueError(f"{cell}[{k}] op {op!r} is outside the NB301 DARTS space; valid: {', '.join(OPS)}")
        if not 0 <= src < node:
            raise ValueError(f"{cell}[{k}] input {src} is invalid for node {node}; valid: 0..{node - 1}")
        clean.append([op, src])
    for node in range(4):
        if clean[2 * node][1] == clean[2 * node + 1][1]:
            raise ValueError(f"{cell} node {node + 2} takes input {clean[2 * node][1]} twice; "
                             "a DARTS node has two distinct inputs")
    return clean


def from_cells(normal: object, reduce: object) -> dict[str, list]:
    """A genotype from its two cells' (op, input) pairs (e.g. read from a data file), checked like `parse`."""
    return {"normal": _clean_cell("normal", normal), "normal_concat": list(CONCAT),
            "reduce": _clean_cell("reduce", reduce), "reduce_concat": list(CONCAT)}


def format_key(genotype: dict[str, list]) -> str:
    """The arch key of a parsed genotype, exactly as `spaces.darts.Genotype.arch_str()` writes it.

    That form lists each node's two pairs by increasing input, so equal cells get equal keys.
    """
    cells = []
    for cell in ("normal", "reduce"):
        pairs = genotype[cell]
        ordered = [p for node in range(4) for p in sorted(pairs[2 * node: 2 * node + 2], key=lambda p: p[1])]
        cells.append("[" + ", ".join(f"('{op}', {int(src)})" for op, src in ordered) + "]")
    return (f"Genotype(normal={cells[0]}, normal_concat={CONCAT}, "
            f"reduce={cells[1]}, reduce_concat={CONCAT})")
