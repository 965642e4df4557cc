"""The fast engine's pooling: every form is checked against `F.avg_pool2d` (forward and backward).

The channels-last kernels (spaces/_fast/_pool.py: the reference net's lever 4, the fused nets' batch
pooling, the discrete NB201 network) must be bit-identical for every pooling configuration of our
spaces; the fused NB201 net's batch-1 matrix-product pooling equals it to float re-association.
"""

from __future__ import annotations

import pytest
import torch

from spaces._fast import _pool as fast_pool
from spaces._fast import nasbench201 as fast_nb201


@pytest.mark.parametrize("shape", [(1, 16, 32, 32), (2, 8, 8, 8)])
def test_channels_last_pooling_is_bit_identical(shape):
    x = torch.randn(*shape, generator=torch.Generator().manual_seed(0)).requires_grad_()
    g = torch.randn(*shape, generator=torch.Generator().manual_seed(1))
    ref = torch.nn.functional.avg_pool2d(x, 3, 1, 1, count_include_pad=False)
    (ref_grad,) = torch.autograd.grad(ref, x, g)
    out = fast_nb201.avg_pool_3x3(x)
    (grad,) = torch.autograd.grad(out, x, g)
    assert torch.equal(out, ref) and torch.equal(grad, ref_grad)


# Every nn.AvgPool2d configuration of our spaces: NB201 / DARTS 3x3 (stride 1, DARTS reduction stride 2),
# NB201's ResNet-block downsample 2x2 (count_include_pad=True), at batch 1 and 64, in both dtypes.
POOLS = [(3, 1, 1, False), (3, 2, 1, False), (2, 2, 0, True)]


@pytest.mark.parametrize("kernel, stride, padding, count_include_pad", POOLS)
@pytest.mark.parametrize("shape", [(1, 16, 32, 32), (64, 32, 16, 16), (3, 5, 9, 9)])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_channels_last_avg_pool_is_bit_identical_for_every_pool_of_our_spaces(kernel, stride, padding,
                                                                             count_include_pad, shape, dtype):
    x = torch.randn(*shape, generator=torch.Generator().manual_seed(0), dtype=dtype).requires_grad_()
    args = (kernel, stride, padding, False, count_include_pad)
    ref = torch.nn.functional.avg_pool2d(x, *args)
    g = torch.randn(ref.shape, generator=torch.Generator().manual_seed(1), dtype=dtype)
    (ref_grad,) = torch.autograd.grad(ref, x, g)
    out = fast_pool.avg_pool2d(x, kernel, stride, padding, count_include_pad)
    (grad,) = torch.autograd.grad(out, x, g)
    assert out.is_contiguous() and torch.equal(out, ref) and torch.equal(grad, ref_grad)


@pytest.mark.parametrize("shape", [(1, 16, 32, 32), (1, 32, 16, 16), (1, 64, 8, 8), (1, 8, 4, 4), (1, 4, 6, 10)])
def test_batch_one_pooling_as_matrix_products_matches_avg_pool2d(shape):
    x = torch.randn(*shape, generator=torch.Generator().manual_seed(0), dtype=torch.float64).requires_grad_()
    g = torch.randn(*shape, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    ref = torch.nn.functional.avg_pool2d(x, 3, 1, 1, count_include_pad=False)
    (ref_grad,) = torch.autograd.grad(ref, x, g)
    out = fast_nb201._pool_mm(x)
    (grad,) = torch.autograd.grad(out, x, g)
    torch.testing.assert_close(out, ref, rtol=1e-14, atol=1e-15)
    torch.testing.assert_close(grad, ref_grad, rtol=1e-14, atol=1e-15)
