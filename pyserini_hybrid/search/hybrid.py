"""``python -m pyserini_hybrid.search.hybrid ...`` is Pyserini's ``python -m pyserini.search.hybrid ...``, flags unchanged,
with ``--encoder-class hybrid`` registered."""

from ..pyserini_glue.mains import alias

main = alias("pyserini.search.hybrid")

if __name__ == "__main__":
    raise SystemExit(main())
