"""Core: what every other part relies on and nothing else — the one-line ``InputError`` and the CLI wrapper,
atomic files and the data-dir convention (``files``), and the one reader/writer each for Pyserini TSV
topics, TREC qrels and TREC runs (``trec``). Imports nothing from the rest of the package."""
