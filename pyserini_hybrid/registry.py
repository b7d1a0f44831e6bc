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
