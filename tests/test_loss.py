"""InfoNCE as a pure function of embeddings, checked against a hand computation and by gradcheck."""

import math

import pytest
import torch

from pyserini_hybrid.train.loss import info_nce


def test_equals_hand_computation():
    q = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    p = torch.tensor([[3.0, 0.0], [1.0, 1.0]])
    n = torch.tensor([[0.0, -1.0]])
    tau = 0.5
    # cosines: q0·(p0,p1,n0) = (1, 1/√2, 0); q1·(p0,p1,n0) = (0, 1/√2, -1)
    s0 = [1 / tau, (1 / math.sqrt(2)) / tau, 0.0]
    s1 = [0.0, (1 / math.sqrt(2)) / tau, -1 / tau]
    l0 = -s0[0] + math.log(sum(math.exp(x) for x in s0))
    l1 = -s1[1] + math.log(sum(math.exp(x) for x in s1))
    assert info_nce(q, p, tau, n).item() == pytest.approx((l0 + l1) / 2, rel=1e-6)
    # without hard negatives the last column is gone
    l0 = -s0[0] + math.log(sum(math.exp(x) for x in s0[:2]))
    l1 = -s1[1] + math.log(sum(math.exp(x) for x in s1[:2]))
    assert info_nce(q, p, tau).item() == pytest.approx((l0 + l1) / 2, rel=1e-6)


def test_offset_points_at_this_ranks_positives():
    torch.manual_seed(0)
    q, p = torch.randn(3, 8), torch.randn(6, 8)
    # rank 1 of 2: its positives are rows 3..5 of the gathered matrix
    naive = torch.stack([-torch.log_softmax(torch.nn.functional.normalize(q[i], dim=0)
                                            @ torch.nn.functional.normalize(p, dim=1).T / 0.05, 0)[3 + i]
                         for i in range(3)]).mean()
    assert info_nce(q, p, 0.05, offset=3).item() == pytest.approx(naive.item(), rel=1e-5)


def test_gradient_is_the_loss_derivative():
    """torch.autograd.gradcheck: analytic gradients against finite differences, in double precision,
    with hard negatives and an offset, normalised and not."""
    torch.manual_seed(1)
    q = torch.randn(3, 5, dtype=torch.float64, requires_grad=True)
    p = torch.randn(6, 5, dtype=torch.float64, requires_grad=True)
    n = torch.randn(2, 5, dtype=torch.float64, requires_grad=True)
    for normalize in (True, False):
        assert torch.autograd.gradcheck(lambda a, b, c: info_nce(a, b, 0.1, c, offset=3, normalize=normalize),
                                        (q, p, n), eps=1e-6, atol=1e-5)


def test_unnormalised_loss_scores_by_dot_product():
    q = torch.tensor([[1.0, 0.0]])
    p = torch.tensor([[2.0, 0.0], [0.0, 3.0]])
    # dot products (2, 0) / tau: a model served without l2_norm is trained on the same scores
    expected = -2.0 + math.log(math.exp(2.0) + math.exp(0.0))
    assert info_nce(q, p, 1.0, normalize=False).item() == pytest.approx(expected, rel=1e-6)
    assert info_nce(q, p, 1.0, normalize=True).item() != pytest.approx(expected, rel=1e-3)


def test_loss_falls_when_embeddings_are_optimised():
    torch.manual_seed(2)
    q = torch.randn(8, 16, requires_grad=True)
    p = torch.randn(8, 16, requires_grad=True)
    opt = torch.optim.SGD([q, p], lr=0.5)
    losses = []
    for _ in range(20):
        opt.zero_grad()
        loss = info_nce(q, p, 0.1)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]
