"""Data parallelism: torchrun's process group, the DDP wrapper, and gathering embeddings with gradients.

The model runs under ``DistributedDataParallel`` (one ``forward(queries, passages[, negatives])`` per
micro-batch, as Tevatron does), which averages parameter gradients over ranks during backward. The loss
scores each rank's queries against every rank's passages and hard negatives, gathered by
``gather_with_grad``: its backward sums the gradients all ranks send to a row (an all-reduce, which gloo
has; ``torch.distributed.nn.all_gather`` needs reduce-scatter, which gloo lacks) and it accepts a
different row count per rank (hard negatives are not found for every positive).
"""

from __future__ import annotations

import contextlib
import os

import torch


def _dist():
    import torch.distributed as dist

    return dist if dist.is_available() and dist.is_initialized() else None


def rank_world() -> tuple[int, int]:
    d = _dist()
    return (d.get_rank(), d.get_world_size()) if d else (0, 1)


def init_distributed() -> tuple[int, int]:
    """torchrun sets WORLD_SIZE/RANK; gloo on CPU, nccl on GPUs."""
    import torch.distributed as dist

    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    return rank_world()


def wrap(module: torch.nn.Module) -> torch.nn.Module:
    """``module`` under DistributedDataParallel when there are several ranks, else itself."""
    if rank_world()[1] == 1:
        return module
    from torch.nn.parallel import DistributedDataParallel

    return DistributedDataParallel(module)


def no_sync(model: torch.nn.Module, accumulate: bool):
    """DDP's ``no_sync`` for micro-batches before the last of an accumulated step (no all-reduce yet)."""
    return model.no_sync() if accumulate and hasattr(model, "no_sync") else contextlib.nullcontext()


def mean_over_ranks(values: list[float]) -> list[float]:
    d = _dist()
    if d is None:
        return values
    t = torch.tensor(values, dtype=torch.float64)
    d.all_reduce(t)
    return (t / d.get_world_size()).tolist()


def barrier() -> None:
    d = _dist()
    if d is not None:
        d.barrier()


def all_gather_object(obj) -> list:
    d = _dist()
    if d is None:
        return [obj]
    out = [None] * d.get_world_size()
    d.all_gather_object(out, obj)
    return out


class _GatherWithGrad(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        d = _dist()
        world, rank = d.get_world_size(), d.get_rank()
        sizes = [torch.zeros(1, dtype=torch.long) for _ in range(world)]
        d.all_gather(sizes, torch.tensor([x.shape[0]], dtype=torch.long))
        sizes = [int(s) for s in sizes]
        padded = x.new_zeros((max(sizes), *x.shape[1:]))
        padded[:x.shape[0]] = x
        parts = [torch.empty_like(padded) for _ in range(world)]
        d.all_gather(parts, padded.contiguous())
        ctx.start, ctx.n = sum(sizes[:rank]), x.shape[0]
        return torch.cat([p[:s] for p, s in zip(parts, sizes)])

    @staticmethod
    def backward(ctx, grad):
        grad = grad.contiguous().clone()
        _dist().all_reduce(grad)
        return grad[ctx.start:ctx.start + ctx.n]


def gather_with_grad(x: torch.Tensor) -> torch.Tensor:
    """All ranks' rows of ``x`` (row counts may differ), concatenated in rank order; identity without DDP."""
    if rank_world()[1] == 1:
        return x
    return _GatherWithGrad.apply(x)
