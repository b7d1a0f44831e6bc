"""``python -m pyserini_hybrid.encode ...`` is Pyserini's ``python -m pyserini.encode ...``, flags unchanged,
with ``--encoder-class hybrid`` registered."""

from .pyserini_glue.mains import alias

main = alias("pyserini.encode")

if __name__ == "__main__":
    raise SystemExit(main())
