"""Fused supernets of the fast ZEROS engine (one private module per space; see harness/engine.py).

A fused supernet computes the same logits as its space's reference supernet, up to float
re-association, with far fewer and larger tensor operations. Each module exposes

    fast_supernet(ref) -> spaces._supernet.Supernet

and a space opts in with `SpaceSpec.fast_supernet` (spaces/__init__.py). `ref` is the reference
supernet built from the seeded RNG exactly as the reference engine builds it, prepared by
`harness.zeros.prepare` (signs, dtype, BN mode) and on its device. The returned net must:

* share the alpha groups (`fast.alphas[g] is ref.alphas[g]`), group names, shapes and order and
  the `alpha_transform`; its alive masks start equal to `ref`'s;
* behave as the base class under `set_alive` / `alive` / `alive_masks` / `mixing_weights`, and
  rebuild its fused weights over the alive ops when a mask changes, so pruned ops cost nothing;
* return `ref(x)`'s logits for the same masks (up to float re-association);
* hold no weight that requires grad: a backward computes alpha gradients only;
* follow `ref`'s train/eval mode (`bn_mode`); running statistics need not be updated;
* expose what the search reads from the reference net (e.g. `prunable_groups`, `row_keep`);
* draw nothing from the global RNG (the engine also guards this), so that
  `reinit_weights_each_step` redraws the same weights under both engines.

A factory may return None for a reference configuration it does not fuse: the engine then runs
the reference supernet with the generic levers (harness/engine.py) and logs why.
Weights are copied into fused tensors when the net is built; after `zeros.reinit_weights(ref)`
the engine builds a new fused net from `ref`.
"""
