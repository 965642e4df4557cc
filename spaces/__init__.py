"""Search-space registry: one module per space, one `SpaceSpec` record per space.

    >>> from spaces import get_space, list_spaces
    >>> list_spaces()
    ['nasbench201']
    >>> space = get_space("nasbench201")
    >>> net = space.build_supernet(space.options(), num_classes=10, input_size=32, alpha_transform="raw", alpha_scale=1e-3)

Every space module provides the same interface (see spaces/README.md for adding one):
`build_supernet(options, num_classes, input_size, *, alpha_transform, alpha_scale)` -> a
`spaces._supernet.Supernet`; `derive(scores, alive) -> Genotype` (the space's own rule);
`arch_key(genotype) -> str` and `parse_arch_key(str) -> Genotype`; `param_count(genotype, num_classes)`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from archcodec import registry
from spaces import darts, mobilenet, nasbench1shot1, nasbench201
from spaces._fast import darts as _fast_darts, nasbench1shot1 as _fast_nasbench1shot1
from spaces._fast import mobilenet_prefix as _fast_mobilenet_prefix, nasbench201 as _fast_nasbench201


@dataclass(frozen=True)
class SpaceSpec:
    """What the harness needs to know about a space, beside its module's functions.

    Attributes:
        options: frozen dataclass of the space's own options (sweep key `space_options`).
        datasets: search datasets the space can be searched on (names as in `harness.data.DATASETS`).
        default_alpha_scale: a in alpha = a * randn when a sweep does not set `alpha_scale`.
        alpha_in_state_dict: whether the authors registered alpha as a module parameter, so that the
            FreeDARTS-D |W| pass over `state_dict()` also made alpha positive (NB201: yes; DARTS: no).
            This is the default of `abs_alpha` for weight-abs variants.
        default_normalization: input normalisation for real images ("nb201" or "darts").
        default_benchmark: benchmark that looks its architectures up.
        row_names: per alpha group, a name for each row (NB201: edges "1<-0", ...).
        op_names: per alpha group, the candidate op of each column.
        prunable_groups: groups whose ops iterative FreeDARTS removes one at a time; other groups
            (e.g. NB1Shot1's input/output alphas) are only scored and used by `derive`. None = all.
        final_rescore: score the fully pruned supernet once more before `derive` (DARTS: the top-2
            incoming edges are chosen on the surviving ops' final scores, spec §3.2).
        flops: optional `(genotype, num_classes) -> int` FLOPs (multiply-adds) of the discrete network.
        default_alpha_scale_for: optional `(options) -> float` that overrides `default_alpha_scale` per
            space options (DARTS: 5e-4 for preset imagenet, FreeDARTS‡; 1e-3 otherwise).
        fast_supernet: optional `(prepared reference supernet) -> fused Supernet` (or None for a
            configuration it does not fuse), used by the fast ZEROS engine (harness/engine.py,
            spaces/_fast/); None = the fast engine runs the reference supernet with its generic levers.
        prefix_reuse_supernet: optional `(prepared reference supernet) -> Supernet` (or None) whose
            scores are the reference's bit for bit but whose forward reruns only the blocks a removal
            changed (the engine's lever 5; for spaces whose rows belong to successive blocks, not to
            one shared cell). Used when no fused net is.
    """

    name: str
    options: type
    build_supernet: Callable
    derive: Callable
    arch_key: Callable
    parse_arch_key: Callable
    param_count: Callable
    datasets: tuple[str, ...]
    default_alpha_scale: float
    alpha_in_state_dict: bool
    default_normalization: str
    default_benchmark: str
    row_names: dict
    op_names: dict
    prunable_groups: tuple[str, ...] | None = None
    final_rescore: bool = False
    flops: Callable | None = None
    default_alpha_scale_for: Callable | None = None  # (options) -> float; overrides default_alpha_scale
    # Baselines (harness/methods: random, zero_cost) and the bias analysis (harness/report/bias.py):
    sample_genotype: Callable | None = None  # (random.Random) -> a uniformly random genotype
    discrete_network: Callable | None = None  # (genotype, num_classes, options) -> nn.Module at init
    all_genotypes: Callable | None = None  # () -> every genotype, where the space is small enough (NB201)
    fast_supernet: Callable | None = None  # (reference supernet) -> fused Supernet (spaces/_fast/)
    prefix_reuse_supernet: Callable | None = None  # (reference supernet) -> exact net that reruns only changed blocks

    def alpha_scale_default(self, options: Any) -> float:
        """The a of alpha = a * randn for these space options (`default_alpha_scale_for` if set)."""
        return self.default_alpha_scale if self.default_alpha_scale_for is None else self.default_alpha_scale_for(options)


SPACES: dict[str, SpaceSpec] = registry.build((
    SpaceSpec(
        name=nasbench201.NAME,
        options=nasbench201.NB201Options,
        build_supernet=nasbench201.build_supernet,
        derive=nasbench201.derive,
        arch_key=nasbench201.arch_key,
        parse_arch_key=nasbench201.parse_arch_key,
        param_count=nasbench201.param_count,
        datasets=("cifar10", "cifar100", "imagenet16-120"),
        default_alpha_scale=1e-3,
        alpha_in_state_dict=True,
        default_normalization="nb201",
        default_benchmark="nasbench201",
        row_names={nasbench201.GROUP: tuple(f"{i}<-{j}" for i, j in nasbench201.EDGES)},
        op_names={nasbench201.GROUP: nasbench201.OPS},
        sample_genotype=nasbench201.sample_genotype,
        discrete_network=nasbench201.discrete_network,
        all_genotypes=nasbench201.all_genotypes,
        fast_supernet=_fast_nasbench201.fast_supernet,
    ),
    SpaceSpec(
        name=nasbench1shot1.NAME,
        options=nasbench1shot1.NB1Shot1Options,
        build_supernet=nasbench1shot1.build_supernet,
        derive=nasbench1shot1.derive,
        arch_key=nasbench1shot1.arch_key,
        parse_arch_key=nasbench1shot1.parse_arch_key,
        param_count=nasbench1shot1.param_count,
        datasets=("cifar10",),
        default_alpha_scale=1e-3,
        alpha_in_state_dict=False,  # upstream (DARTS-style) keeps alpha outside the state_dict
        default_normalization="darts",
        default_benchmark="nasbench101",
        row_names=nasbench1shot1.ROW_NAMES,
        op_names=nasbench1shot1.OP_NAMES,
        prunable_groups=(nasbench1shot1.GROUP_OPS,),  # inputs/output are scored and used by derive
        final_rescore=True,  # parents are chosen on the scores of the op-pruned supernet
        fast_supernet=_fast_nasbench1shot1.fast_supernet,
    ),
    SpaceSpec(
        name=mobilenet.NAME,
        options=mobilenet.MobileNetOptions,
        build_supernet=mobilenet.build_supernet,
        derive=mobilenet.derive,
        arch_key=mobilenet.arch_key,
        parse_arch_key=mobilenet.parse_arch_key,
        param_count=mobilenet.param_count,
        datasets=("imagenet",),
        default_alpha_scale=1e-3,
        alpha_in_state_dict=True,  # ProxylessNAS registers alpha as a module Parameter
        default_normalization="darts",
        default_benchmark="none",  # no MobileNet-space benchmark exists
        row_names={mobilenet.GROUP: tuple(f"block{b + 1}" for b in range(mobilenet.N_BLOCKS))},
        op_names={mobilenet.GROUP: mobilenet.OPS},  # code_mode uses the first 6 columns
        flops=mobilenet.flops,
        # No fused net: spaces/_fast/mobilenet.py measured no faster than this net with the engine's levers 1 and 4
        # (full supernet 0.58-0.60 vs 0.60 s a pass, 4/7 pruned 0.22 vs 0.22 s; scripts/bench_fused.py), and its
        # float32 re-association cost 24 close-call passes and a different architecture on seed 0. Unfused, the
        # fast engine is bit-identical to the reference and faster: 1.93x one-shot; iterative 2.77x with lever 5,
        # the reference net's own blocks rerun from the first changed one (README).
        fast_supernet=None,
        prefix_reuse_supernet=_fast_mobilenet_prefix.prefix_reuse_supernet,
    ),
    SpaceSpec(
        name=darts.NAME,
        options=darts.DartsOptions,
        build_supernet=darts.build_supernet,
        derive=darts.derive,
        arch_key=darts.arch_key,
        parse_arch_key=darts.parse_arch_key,
        param_count=darts.param_count,
        datasets=("cifar10", "cifar100", "imagenet"),
        default_alpha_scale=1e-3,
        default_alpha_scale_for=darts.default_alpha_scale,  # 5e-4 for preset imagenet (FreeDARTS‡)
        alpha_in_state_dict=False,  # the authors' DARTS code keeps alpha outside the state_dict
        default_normalization="darts",
        default_benchmark="nb301_distilled",  # agrees with the official NB301 at Spearman ~0.95 (YAHPO: 0.59)
        row_names={g: darts.EDGE_NAMES for g in darts.GROUPS},
        op_names={g: darts.OPS for g in darts.GROUPS},
        final_rescore=True,  # iterative: top-2 edges on the scores of the op-pruned supernet (spec §3.2)
        flops=darts.flops,
        sample_genotype=darts.sample_genotype,
        discrete_network=darts.discrete_network,
        fast_supernet=_fast_darts.fast_supernet,
    ),
), "search space")


def list_spaces() -> list[str]:
    """Registered space names, sorted."""
    return sorted(SPACES)


def get_space(name: str) -> SpaceSpec:
    """The spec registered as `name`.

    Raises:
        UnknownNameError: (archcodec.registry, a ValueError) naming the valid names and the closest one.
    """
    return registry.lookup(SPACES, "search space", name)
