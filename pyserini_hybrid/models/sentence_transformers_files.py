"""The files that make an exported model directory load in sentence-transformers as well.

``SentenceTransformer(dir)`` reads ``modules.json``: the transformer (the directory itself, with
``sentence_bert_config.json``: one max_seq_length, the passage length), ``1_Pooling`` (mean or first token, as
``pyserini_hybrid.json`` says) and ``2_Normalize`` when the model is L2-normalised; and
``config_sentence_transformers.json``: the query and passage prefixes as its prompts ``query`` and
``passage``, prepended to the text exactly as ``--encoder-class hybrid`` prepends them. Module types use
sentence-transformers' long-standing names (``sentence_transformers.models.*``), which its newer releases
still map. Nothing of ours reads these files: dense runs are unchanged by them.
"""

from __future__ import annotations

import inspect
from importlib import metadata
from pathlib import Path

from ..core.files import write_json
from .config import EncoderConfig

MODULES = "modules.json"
POOLING_DIR, NORMALIZE_DIR = "1_Pooling", "2_Normalize"


def _version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "unknown"


def write(directory: Path, config: EncoderConfig, model) -> None:
    """``modules.json``, ``sentence_bert_config.json``, ``config_sentence_transformers.json`` and the pooling
    (and normalisation) module folders, into ``directory``; ``model``: the transformer being saved."""
    directory = Path(directory)
    dimension = int(model.config.hidden_size)
    # saved without a pooler (we pool ourselves): say so, or transformers builds a random one and reports it
    no_pooler = "add_pooling_layer" in inspect.signature(type(model).__init__).parameters
    modules = [{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
               {"idx": 1, "name": "1", "path": POOLING_DIR, "type": "sentence_transformers.models.Pooling"}]
    if config.l2_norm:
        modules.append({"idx": 2, "name": "2", "path": NORMALIZE_DIR, "type": "sentence_transformers.models.Normalize"})
        (directory / NORMALIZE_DIR).mkdir(exist_ok=True)
    write_json(directory / MODULES, modules)
    write_json(directory / "sentence_bert_config.json", {"max_seq_length": config.max_passage_length,
                                                          "do_lower_case": False,
                                                          **({"model_args": {"add_pooling_layer": False}}
                                                             if no_pooler else {})})
    (directory / POOLING_DIR).mkdir(exist_ok=True)
    mean = config.pooling == "mean"
    write_json(directory / POOLING_DIR / "config.json", {
        "word_embedding_dimension": dimension, "pooling_mode_cls_token": not mean, "pooling_mode_mean_tokens": mean,
        "pooling_mode_max_tokens": False, "pooling_mode_mean_sqrt_len_tokens": False,
        "pooling_mode_weightedmean_tokens": False, "pooling_mode_lasttoken": False, "include_prompt": True})
    write_json(directory / "config_sentence_transformers.json", {
        "__version__": {"sentence_transformers": _version("sentence-transformers"),
                        "transformers": _version("transformers"), "pytorch": _version("torch")},
        "prompts": {"query": config.query_prefix, "passage": config.passage_prefix},
        "default_prompt_name": None, "similarity_fn_name": "cosine" if config.l2_norm else "dot"})
