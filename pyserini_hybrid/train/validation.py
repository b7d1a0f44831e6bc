"""Validation as retrieval on held-out *training* groups: what recipe settings are chosen on.

A loss on a mix of batches says little about retrieval, and the evaluation sets (XQuAD-R, MLQA-R, MIRACL)
must never steer training. So the held-out paragraphs of the training data become a small retrieval task
with the evaluation's three settings: Mo (queries in X against X's held-out answer sentences), Cr (X
against Y, the relevant sentence being the Y translation's answer) and Mul (X against every language's
held-out sentences, all translations' answers relevant); each scored by MRR@10 per setting and
macro-averaged like the evaluation's Mo/Cr/Mul. It is built once from the validation rows (seeded, up to
``max_groups`` groups) and is the same for every batching, so their curves compare.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from .pairs import PairSet


@dataclass
class RetrievalTask:
    queries: list[int]                      # pair rows whose question is a query
    candidates: dict[str, list[int]]        # language -> pair rows whose answer sentence is a candidate
    settings: dict[str, tuple[str, str]]    # "x-y" / "x-pool" -> (query language, candidate language or pool)


def build_task(pairs: PairSet, rows: list[int], max_groups: int, seed: int = 0) -> RetrievalTask | None:
    """Up to ``max_groups`` held-out groups (the same choice for every recipe with this seed)."""
    if max_groups <= 0 or not rows:
        return None
    groups = sorted({pairs.group[r] for r in rows})
    rng = np.random.default_rng(seed)
    keep = set(rng.permutation(groups)[:max_groups].tolist()) if len(groups) > max_groups else set(groups)
    chosen = [r for r in rows if pairs.group[r] in keep]
    candidates: dict[str, list[int]] = {}
    seen = set()
    for r in chosen:  # one candidate per distinct answer sentence of a language
        key = _key(pairs, r)
        if key not in seen:
            seen.add(key)
            candidates.setdefault(pairs.positive_lang[r], []).append(r)
    langs = sorted(candidates)
    by_group: dict[str, set[str]] = {}
    for r in chosen:
        by_group.setdefault(pairs.group[r], set()).update((pairs.lang[r], pairs.positive_lang[r]))
    settings = {f"{x}-{x}": (x, x) for x in langs}
    for x in langs:
        for y in langs:
            if x != y and sum(1 for g in by_group.values() if {x, y} <= g) >= 5:
                settings[f"{x}-{y}"] = (x, y)
        settings[f"{x}-pool"] = (x, "pool")
    return RetrievalTask(chosen, candidates, settings)


def _key(pairs: PairSet, row: int) -> tuple:
    return pairs.positive_lang[row], pairs.paragraph[row], pairs.sentence[row]  # the candidate's language


def _relevant(pairs: PairSet, query: int, cands: list[int], answers: dict) -> list[int]:
    """Indices of ``cands`` answering ``query``: the answer sentence of any row of its group (a group is one
    question and its translations; two questions may share an answer sentence)."""
    keys = answers[pairs.group[query]]
    return [i for i, c in enumerate(cands) if _key(pairs, c) in keys]


@torch.inference_mode()
def evaluate(task: RetrievalTask, pairs: PairSet, embed_queries, embed_passages, normalize: bool) -> dict:
    """{"val_mo", "val_cr", "val_mul"} (MRR@10 macro averages) and per-setting values, for a model given
    as two functions texts -> embeddings."""
    q_emb = embed_queries([pairs.query[r] for r in task.queries])
    c_emb = {x: embed_passages([pairs.positive(r) for r in rows]) for x, rows in task.candidates.items()}
    if normalize:
        q_emb, c_emb = F.normalize(q_emb, dim=-1), {x: F.normalize(e, dim=-1) for x, e in c_emb.items()}
    pool_rows = [r for x in sorted(task.candidates) for r in task.candidates[x]]
    pool_emb = torch.cat([c_emb[x] for x in sorted(task.candidates)])
    row_of = {r: i for i, r in enumerate(task.queries)}
    answers: dict[str, set] = {}
    for r in task.queries:
        answers.setdefault(pairs.group[r], set()).add(_key(pairs, r))
    out = {}
    for name, (x, y) in task.settings.items():
        cands, emb = (pool_rows, pool_emb) if y == "pool" else (task.candidates[y], c_emb[y])
        qs = [r for r in task.queries if pairs.lang[r] == x and _relevant(pairs, r, cands, answers)]
        if not qs:
            continue
        scores = q_emb[[row_of[r] for r in qs]] @ emb.T
        top = scores.topk(min(10, scores.shape[1]), dim=1).indices.tolist()
        rr = []
        for r, ranked in zip(qs, top):
            relevant = set(_relevant(pairs, r, cands, answers))
            rr.append(next((1.0 / (k + 1) for k, c in enumerate(ranked) if c in relevant), 0.0))
        out[name] = float(np.mean(rr))
    mono = [v for k, v in out.items() if k.split("-")[0] == k.split("-")[1]]
    cross = [v for k, v in out.items() if not k.endswith("-pool") and k.split("-")[0] != k.split("-")[1]]
    pool = [v for k, v in out.items() if k.endswith("-pool")]
    return {"val_mo": float(np.mean(mono)) if mono else None, "val_cr": float(np.mean(cross)) if cross else None,
            "val_mul": float(np.mean(pool)) if pool else None, "val_settings": out}
