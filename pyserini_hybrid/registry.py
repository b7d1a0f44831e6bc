"""Register our encoder class in Pyserini 1.6, which has no plugin registry.

Pyserini keeps its encoder classes in two plain dicts (``pyserini.encode.document_encoder_class_map``
and ``query_encoder_class_map``) and hard-codes the ``--encoder-class`` argparse choices inside
``pyserini/encode/__main__.py`` and ``pyserini/search/faiss/__main__.py`` (which ``search.hybrid``
reuses). ``register()`` adds ``hybrid`` to both dicts and to those choices, then Pyserini's own mains
run unchanged: ``python -m pyserini_hybrid.encode ... --encoder-class hybrid``.
"""

from __future__ import annotations

import argparse

NAME = "hybrid"
_registered = False


def register() -> None:
    """Idempotent. Call before running a Pyserini main that should accept ``--encoder-class hybrid``."""
    global _registered
    if _registered:
        return
    import pyserini.encode as pe

    from .encoders import encoder_classes

    doc_cls, query_cls = encoder_classes()
    pe.document_encoder_class_map[NAME] = doc_cls
    pe.query_encoder_class_map[NAME] = query_cls

    original = argparse._ActionsContainer.add_argument

    def add_argument(self, *names, **kwargs):
        # Pyserini spells the class option --encoder-class everywhere; extend only those choices
        if "--encoder-class" in names and kwargs.get("choices") is not None and NAME not in kwargs["choices"]:
            kwargs["choices"] = [*kwargs["choices"], NAME]
        return original(self, *names, **kwargs)

    argparse._ActionsContainer.add_argument = add_argument
    _registered = True


def guard_fusion_normalization() -> None:
    """``search.hybrid --normalization`` divides by (max − min) of each side's scores, which is zero when a
    query has one BM25 hit (or all-equal scores): ZeroDivisionError ends the whole run. This is Pyserini
    1.6's ``HybridSearcher._hybrid_results`` with that one case defined: a side whose scores span
    nothing contributes 0 after normalisation. Everything else is unchanged."""
    from pyserini.search.faiss import DenseSearchResult
    from pyserini.search.hybrid import HybridSearcher

    def hybrid_results(dense_results, sparse_results, alpha, k, normalization=False, weight_on_dense=False):
        dense_hits = {hit.docid: hit.score for hit in dense_results}
        sparse_hits = {hit.docid: hit.score for hit in sparse_results}
        lo_d, hi_d = (min(dense_hits.values()), max(dense_hits.values())) if dense_hits else (0, 1)
        lo_s, hi_s = (min(sparse_hits.values()), max(sparse_hits.values())) if sparse_hits else (0, 1)

        def norm(score, lo, hi):
            return 0.0 if hi == lo else (score - (lo + hi) / 2) / (hi - lo)

        out = []
        for doc in set(dense_hits) | set(sparse_hits):
            sparse_score = sparse_hits.get(doc, lo_s)
            dense_score = dense_hits.get(doc, lo_d)
            if normalization:
                sparse_score, dense_score = norm(sparse_score, lo_s, hi_s), norm(dense_score, lo_d, hi_d)
            score = alpha * sparse_score + dense_score if not weight_on_dense else sparse_score + alpha * dense_score
            out.append(DenseSearchResult(doc, score))
        return sorted(out, key=lambda x: x.score, reverse=True)[:k]

    HybridSearcher._hybrid_results = staticmethod(hybrid_results)
