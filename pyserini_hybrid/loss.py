"""InfoNCE over cosine similarities: in-batch negatives, optional hard negatives, all ranks' passages.

``info_nce`` is a pure function of embeddings (the model lives elsewhere). With data parallelism the
passages of every rank are gathered (``gather_with_grad``) so each query is scored against the global
batch; its backward sums the gradients all ranks send to a passage (an all-reduce, which gloo has;
``torch.distributed.nn.all_gather`` needs reduce-scatter, which gloo lacks).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def info_nce(queries: torch.Tensor, positives: torch.Tensor, temperature: float,
             negatives: torch.Tensor | None = None, offset: int = 0) -> torch.Tensor:
    """Mean over queries of −log softmax(cos(q, c) / τ)[positive].

    queries [B, d]; positives [P, d] (P ≥ B: all ranks' positives, this rank's at rows offset..offset+B);
    negatives [N, d] hard negatives appended to every query's candidates. Inputs need not be unit-length.
    """
    q = F.normalize(queries, dim=-1)
    candidates = positives if negatives is None or len(negatives) == 0 else torch.cat([positives, negatives])
    c = F.normalize(candidates, dim=-1)
    scores = q @ c.T / temperature                                        # [B, P + N]
    labels = torch.arange(len(q), device=q.device) + offset
    return F.cross_entropy(scores, labels)


class _GatherWithGrad(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        import torch.distributed as dist

        ctx.rank, ctx.n = dist.get_rank(), x.shape[0]
        parts = [torch.empty_like(x) for _ in range(dist.get_world_size())]
        dist.all_gather(parts, x.contiguous())
        return torch.cat(parts)

    @staticmethod
    def backward(ctx, grad):
        import torch.distributed as dist

        grad = grad.contiguous().clone()
        dist.all_reduce(grad)
        return grad[ctx.rank * ctx.n:(ctx.rank + 1) * ctx.n]


def gather_with_grad(x: torch.Tensor) -> torch.Tensor:
    """All ranks' rows of ``x`` (equal shapes), concatenated in rank order; identity without DDP."""
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return x
    return _GatherWithGrad.apply(x)
