"""Architecture-key codecs: the pure, torch-free helpers that `spaces/` and `benchmarks/` share.

A search space writes an architecture as a key (`spaces.<space>.arch_key`); a benchmark reads that
key back to look it up. Both sides must agree on one definition of the format, yet the two packages
never import each other (benchmarks must load without torch; spaces must not depend on data
readers). The shared definitions live here, once:

* `archcodec.nb101`: the NAS-Bench-101 cell: `ModelSpec` pruning, validity, the module hash, and
  the upstream NAS-Bench-1Shot1 rule that turns a parent choice into a 7x7 adjacency.
* `archcodec.darts`: the DARTS genotype string (`Genotype(normal=[...], ...)`): parse, check and
  write back, as DARTS' `genotypes.py` and NB301 spell it.

Layering (tests/test_layering.py): this package imports only the standard library and numpy;
`harness` -> `spaces`, `benchmarks` -> `archcodec`, nothing back.
"""
