"""``python -m pyserini_hybrid.search.faiss ...`` is Pyserini's ``python -m pyserini.search.faiss ...``, flags unchanged,
with ``--encoder-class hybrid`` registered."""

from ..pyserini_glue.mains import alias

main = alias("pyserini.search.faiss")

if __name__ == "__main__":
    raise SystemExit(main())
