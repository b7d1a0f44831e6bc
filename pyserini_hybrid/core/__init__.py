"""Core: what every other part relies on and nothing else — the one-line ``InputError`` and the CLI wrapper
(``errors``: exit 2 on bad input, 130 on Ctrl-C), atomic files, the data-dir convention and the safetensors
size check (``files``), the one-writer lock of an output (``lock``), the SQuAD-format validator (``squad``),
and the one reader/writer each for Pyserini TSV topics, TREC qrels and TREC runs (``trec``). Imports
nothing from the rest of the package."""
