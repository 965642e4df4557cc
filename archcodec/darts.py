"""The DARTS genotype string, the arch key of the DARTS space and of the NAS-Bench-301 benchmarks.

The key is the `repr` of DARTS' `Genotype` namedtuple with lists (the form of DARTS'
`genotypes.py` and NB301's examples):

    Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ...8 pairs], normal_concat=[2, 3, 4, 5],
             reduce=[...8 pairs], reduce_concat=[2, 3, 4, 5])

Pairs 2k and 2k+1 are the two inputs of intermediate node k+2 (inputs 0 and 1 are the cell inputs,
2.. earlier nodes); ops are the 7 non-`none` DARTS ops. DARTS' own `range(2, 6)` concat is read too.

* `parse(key)` validates a key and returns plain lists, pairs in the key's order
  (`{"normal": [[op, input], ...8], "normal_concat": [2..5], "reduce": [...], "reduce_concat": [...]}`);
* `check_cell(cell, pairs)` checks one cell's 8 pairs (also used by `spaces.darts.Genotype`);
* `from_cells(normal, reduce)` checks pairs read from a data file the same way;
* `format_key(genotype)` writes the canonical key back: each node's two pairs by increasing input,
  so equal cells get equal keys (`spaces.darts.Genotype.arch_str()` writes the same string).

Any defect raises ValueError naming it.
"""

from __future__ import annotations

import ast
import re

OPS: tuple[str, ...] = ("max_pool_3x3", "avg_pool_3x3", "skip_connect", "sep_conv_3x3", "sep_conv_5x5",
                        "dil_conv_3x3", "dil_conv_5x5")  # NB301's order; a genotype never holds `none`
STEPS = 4  # intermediate nodes per cell, two (op, input) pairs each
CONCAT = [2, 3, 4, 5]
FORMAT = ("Genotype(normal=[(op, input) x8], normal_concat=[2, 3, 4, 5], reduce=[(op, input) x8], "
          "reduce_concat=[2, 3, 4, 5]) with op in " + ", ".join(OPS))
_CONCAT_RE = r"(\[.*?\]|range\(2, 6\))"
_RE = re.compile(rf"^Genotype\(normal=(\[.*?\]),\s*normal_concat={_CONCAT_RE},\s*reduce=(\[.*?\]),\s*"
                 rf"reduce_concat={_CONCAT_RE}\)$", re.S)


def parse(key: str) -> dict[str, list]:
    """{"normal": [[op, input], ...8], "normal_concat": [2..5], "reduce": [...], "reduce_concat": [...]}."""
    m = _RE.match(key.strip()) if isinstance(key, str) else None
    if not m:
        raise ValueError(f"not a DARTS genotype string: {str(key)[:80]!r}; expected {FORMAT}")
    out: dict[str, list] = {}
    for name, text in zip(("normal", "normal_concat", "reduce", "reduce_concat"), m.groups()):
        if text == "range(2, 6)":
            out[name] = list(CONCAT)
            continue
        try:
            value = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            raise ValueError(f"{name}={text[:60]!r} is not a literal list; expected {FORMAT}") from None
        out[name] = value
    for cell in ("normal", "reduce"):
        if list(out[f"{cell}_concat"]) != CONCAT:
            raise ValueError(f"{cell}_concat is {out[f'{cell}_concat']}, the DARTS space concatenates {CONCAT}")
        out[cell] = check_cell(cell, out[cell])
    return out


def check_cell(cell: str, pairs: object) -> list[list]:
    """The 8 [op, input] pairs of one cell, checked against the space; ValueError names the defect."""
    if not isinstance(pairs, list | tuple) or len(pairs) != 2 * STEPS:
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
    for node in range(STEPS):
        if clean[2 * node][1] == clean[2 * node + 1][1]:
            raise ValueError(f"{cell} node {node + 2} takes input {clean[2 * node][1]} twice; "
                             "a DARTS node has two distinct inputs")
    return clean


def canonical_order(pairs: list[list]) -> list[list]:
    """Each node's two pairs by increasing input (the order the key is written in)."""
    return [p for node in range(STEPS) for p in sorted(pairs[2 * node: 2 * node + 2], key=lambda p: p[1])]


def from_cells(normal: object, reduce: object) -> dict[str, list]:
    """A genotype from its two cells' (op, input) pairs (e.g. read from a data file), checked like `parse`."""
    return {"normal": check_cell("normal", normal), "normal_concat": list(CONCAT),
            "reduce": check_cell("reduce", reduce), "reduce_concat": list(CONCAT)}


def format_key(genotype: dict[str, list]) -> str:
    """The canonical arch key of a parsed genotype (each node's pairs by increasing input)."""
    cells = ["[" + ", ".join(f"('{op}', {int(src)})" for op, src in canonical_order(genotype[cell])) + "]"
             for cell in ("normal", "reduce")]
    return (f"Genotype(normal={cells[0]}, normal_concat={CONCAT}, "
            f"reduce={cells[1]}, reduce_concat={CONCAT})")
