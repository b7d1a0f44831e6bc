"""InfoNCE as a pure function of embeddings, checked against a hand computation."""

import math

import pytest
import torch

from pyserini_hybrid.loss import info_nce


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


def test_gradient_matches_naive_version():
    torch.manual_seed(1)
    q1 = torch.randn(4, 5, requires_grad=True)
    p1 = torch.randn(4, 5, requires_grad=True)
    q2, p2 = q1.detach().clone().requires_grad_(), p1.detach().clone().requires_grad_()
    info_nce(q1, p1, 0.1).backward()
    qn, pn = torch.nn.functional.normalize(q2, dim=1), torch.nn.functional.normalize(p2, dim=1)
    logits = qn @ pn.T / 0.1
    (-(logits.diag() - logits.logsumexp(1))).mean().backward()
    assert torch.allclose(q1.grad, q2.grad, atol=1e-6) and torch.allclose(p1.grad, p2.grad, atol=1e-6)


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
