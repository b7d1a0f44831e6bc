"""Register our encoder classes in Pyserini 1.6, which has no plugin registry; check flags before a main runs.

Pyserini keeps its encoder classes in two plain dicts (``pyserini.encode.document_encoder_class_map``
and ``query_encoder_class_map``) and hard-codes the ``--encoder-class`` argparse choices inside
``pyserini/encode/__main__.py`` and ``pyserini/search/faiss/__main__.py`` (which ``search.hybrid``
reuses). ``registered()`` adds ``hybrid`` to both dicts and, for the duration of the block only, to
those choices; Pyserini's own mains run unchanged inside it:
``python -m pyserini_hybrid.encode ... --encoder-class hybrid``. Inside it, too, ``--encoded-queries`` reads
our query directories from ``.npy`` + JSON instead of unpickling ``embedding.pkl`` (``dense_files``).
"""

from __future__ import annotations

import argparse
import contextlib
import json
from pathlib import Path

from ..core.errors import InputError
from ..core.files import check_safetensors
from ..models.config import EncoderConfig
from ..models.integrity import tokenizer_record
from .dense_files import (
    RECORD,
    encoded_queries_width,
    index_damage,
    index_dimension,
    is_encoded_queries,
    read_encoded_queries,
)

NAME = "hybrid"


@contextlib.contextmanager
def registered():
    """Our classes in Pyserini's class maps, and ``hybrid`` among the ``--encoder-class`` choices of any
    parser built inside the block. argparse offers no hook for another module's choices, so its
    ``add_argument`` is wrapped, and restored on exit (also on an exception)."""
    import pyserini.encode as pe

    doc_cls, query_cls = encoder_classes()
    pe.document_encoder_class_map[NAME] = doc_cls
    pe.query_encoder_class_map[NAME] = query_cls
    original = argparse._ActionsContainer.add_argument
    stock_loader = pe.QueryEncoder.__dict__["_load_embeddings"]

    def load_embeddings(encoded_queries_dir):
        # our --encoded-queries directories are read from embedding.npy + texts.json, never unpickled
        if is_encoded_queries(encoded_queries_dir):
            return read_encoded_queries(encoded_queries_dir)
        return stock_loader.__func__(encoded_queries_dir)

    def add_argument(self, *names, **kwargs):
        # Pyserini spells the class option --encoder-class everywhere; extend only those choices
        if "--encoder-class" in names and kwargs.get("choices") is not None and NAME not in kwargs["choices"]:
            kwargs["choices"] = [*kwargs["choices"], NAME]
        return original(self, *names, **kwargs)

    argparse._ActionsContainer.add_argument = add_argument
    pe.QueryEncoder._load_embeddings = staticmethod(load_embeddings)
    try:
        yield
    finally:
        argparse._ActionsContainer.add_argument = original
        pe.QueryEncoder._load_embeddings = stock_loader


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


def _value(argv: list[str], flag: str) -> str | None:
    return argv[argv.index(flag) + 1] if flag in argv and argv.index(flag) + 1 < len(argv) else None


def _hybrid_model(argv: list[str]) -> tuple[Path, int] | None:
    """(model directory, embedding width) of ``--encoder-class hybrid --encoder DIR``, checked: our config,
    whole weights, the tokenizer it was recorded with; None for other encoder classes."""
    if _value(argv, "--encoder-class") != "hybrid" or _value(argv, "--encoder") is None:
        return None
    model_dir = Path(_value(argv, "--encoder"))
    EncoderConfig.load(model_dir)  # a directory without our config fails here, by name
    if (model_dir / "model.safetensors").is_file():  # a truncated copy would fail inside transformers
        check_safetensors(model_dir / "model.safetensors")
    tokenizer_record(model_dir)  # another model's tokenizer: one line here (warnings come when it loads)
    try:
        width = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))["hidden_size"]
    except (OSError, KeyError, json.JSONDecodeError):
        raise InputError(f"{model_dir}: no readable config.json with hidden_size") from None
    return model_dir, width


def check_encode_args(argv: list[str]) -> None:
    """Fail before encoding anything when ``--dimension`` disagrees with a hybrid model's width.

    Pyserini's FaissRepresentationWriter would otherwise die in a faiss assertion after the work."""
    model = _hybrid_model(argv)
    if model is None:
        return
    model_dir, width = model
    dimension = _value(argv, "--dimension")
    if "--to-faiss" in argv and (dimension or "768").isdigit() and int(dimension or 768) != width:  # 768: Pyserini default
        raise InputError(f"--dimension {dimension or '768 (default)'} does not match {model_dir}: "
                         f"its embeddings have {width} dimensions (pass --dimension {width})")


def check_search_args(argv: list[str]) -> None:
    """Fail before searching (and before any output file exists) when ``pyserini.search.faiss --index DIR``
    is damaged, or its vectors' dimension is not the query side's: a ``--encoder-class hybrid`` model's
    hidden_size, or our ``--encoded-queries``' width. Pyserini would end in a faiss AssertionError traceback
    after creating an empty run file (probe A9). A prebuilt index name (no directory) is Pyserini's to resolve."""
    index = _value(argv, "--index")
    if index is None or not Path(index).is_dir():
        return
    # an index of ours carries its record; any other is only required to have a readable header
    damage = index_damage(Path(index)) if (Path(index) / RECORD).is_file() else ""
    dimension = index_dimension(Path(index))
    if damage or dimension is None:
        raise InputError(f"--index {index}: not a whole faiss index ({damage or 'no readable index file'})")
    model = _hybrid_model(argv)
    if model is not None and model[1] != dimension:
        raise InputError(f"--index {index} holds {dimension}-dimensional vectors but --encoder {model[0]} gives "
                         f"{model[1]} (its hidden_size): search with the model that encoded the index")
    queries = _value(argv, "--encoded-queries")
    if queries is not None and is_encoded_queries(queries):
        width = encoded_queries_width(Path(queries))
        if width is None:
            raise InputError(f"--encoded-queries {queries}: unreadable embedding.npy (encode the queries again)")
        if width != dimension:
            raise InputError(f"--index {index} holds {dimension}-dimensional vectors but --encoded-queries "
                             f"{queries} holds {width}-dimensional ones: encode the queries with the index's model")


def _pyserini_bases():
    from pyserini.encode import DocumentEncoder, QueryEncoder

    return DocumentEncoder, QueryEncoder


def _make_classes():
    DocumentEncoder, QueryEncoder = _pyserini_bases()

    class HybridDocumentEncoder(DocumentEncoder):
        """Pyserini DocumentEncoder; Pyserini passes only the model name and device."""

        def __init__(self, model_name: str, device: str = "cpu", **_ignored):
            from ..models.text_encoder import TextEncoder

            self.encoder = TextEncoder(model_name, device)
            self.config = self.encoder.config

        def encode(self, texts, titles=None, max_length=None, **kwargs):
            if titles is not None:
                texts = [f"{t} {x}".strip() for t, x in zip(titles, texts)]
            limit = min(max_length or self.config.max_passage_length, self.config.max_passage_length)
            return self.encoder.embed(list(texts), self.config.passage_prefix, limit)

    class HybridQueryEncoder(QueryEncoder):
        """Pyserini QueryEncoder with ``encode_batch`` for FaissSearcher.batch_search."""

        def __init__(self, encoder_dir: str | None = None, device: str = "cpu", **_ignored):
            super().__init__(None)
            from ..models.text_encoder import TextEncoder

            self.encoder = TextEncoder(encoder_dir, device)
            self.config = self.encoder.config
            self.has_model = True

        def encode(self, query: str, **kwargs):
            return self.encode_batch([query])[0]

        def encode_batch(self, queries, **kwargs):
            return self.encoder.embed(list(queries), self.config.query_prefix, self.config.max_query_length)

    return HybridDocumentEncoder, HybridQueryEncoder


_classes = None


def encoder_classes():
    """(HybridDocumentEncoder, HybridQueryEncoder), built on first use so importing us loads no Pyserini."""
    global _classes
    if _classes is None:
        _classes = _make_classes()
    return _classes
