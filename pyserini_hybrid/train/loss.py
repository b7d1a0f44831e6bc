"""InfoNCE over in-batch negatives and optional hard negatives: a pure function of embeddings.

The model and the gathering across ranks live elsewhere (``models.encoder``, ``distributed``): this
module only does the math, so it can be checked on its own (``torch.autograd.gradcheck``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def info_nce(queries: torch.Tensor, positives: torch.Tensor, temperature: float,
             negatives: torch.Tensor | None = None, offset: int = 0, normalize: bool = True) -> torch.Tensor:
    """Mean over queries of −log softmax(s(q, c) / τ)[positive], s = cosine (``normalize``) or dot product.

    queries [B, d]; positives [P, d] (P ≥ B: all ranks' positives, this rank's at rows offset..offset+B);
    negatives [N, d] hard negatives appended to every query's candidates. ``normalize`` should follow the
    model's ``l2_norm``: training then scores as serving does.
    """
    candidates = positives if negatives is None or len(negatives) == 0 else torch.cat([positives, negatives])
    q, c = (F.normalize(queries, dim=-1), F.normalize(candidates, dim=-1)) if normalize else (queries, candidates)
    scores = q @ c.T / temperature                                        # [B, P + N]
    labels = torch.arange(len(q), device=q.device) + offset
    return F.cross_entropy(scores, labels)
