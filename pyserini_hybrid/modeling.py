"""The trainable encoder: one transformer for queries and passages, our pooling, E5-style prefixes.

``build`` starts training from a name (the embedded default, a Hugging Face hub name or a directory:
one code path, ``from_pretrained``); ``save`` writes a plain Hugging Face directory plus
``pyserini_hybrid.json``, which ``--encoder-class hybrid`` reads and which stock Pyserini's
``--encoder-class auto --pooling mean --l2-norm`` also loads.
"""

from __future__ import annotations

from pathlib import Path

import torch

from .encoders import EncoderConfig, position_limit
from .recipe import ModelArgs


def resolve_start(name: str) -> str:
    if name == "default":
        from .default_model import default_model_dir

        return str(default_model_dir())
    return name


class BiEncoder(torch.nn.Module):
    def __init__(self, model, tokenizer, config: EncoderConfig):
        super().__init__()
        self.model, self.tokenizer, self.config = model, tokenizer, config

    @classmethod
    def build(cls, args: ModelArgs) -> "BiEncoder":
        from transformers import AutoModel, AutoTokenizer

        start = resolve_start(args.name)
        tokenizer = AutoTokenizer.from_pretrained(start)
        try:  # no pooler: we pool ourselves, and a random pooler would only warn
            model = AutoModel.from_pretrained(start, add_pooling_layer=False)
        except TypeError:
            model = AutoModel.from_pretrained(start)
        limit = position_limit(model)  # a recipe's lengths may exceed what a small model can take
        config = EncoderConfig(pooling=args.pooling, l2_norm=args.l2_norm, query_prefix=args.query_prefix,
                               passage_prefix=args.passage_prefix, max_query_length=min(args.max_query_length, limit),
                               max_passage_length=min(args.max_passage_length, limit))
        return cls(model, tokenizer, config)

    def freeze_word_embeddings(self) -> int:
        """Stops training the token embeddings (most parameters of a multilingual model); returns their count."""
        emb = self.model.get_input_embeddings()
        emb.weight.requires_grad_(False)
        return emb.weight.numel()

    def tokenize(self, texts: list[str], prefix: str, max_length: int) -> dict:
        return self.tokenizer([prefix + t for t in texts], truncation=True, max_length=max_length, padding=True,
                              return_tensors="pt")

    def forward(self, batch: dict) -> torch.Tensor:
        hidden = self.model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state
        if self.config.pooling == "cls":
            return hidden[:, 0]
        mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)

    def queries(self, texts: list[str]) -> torch.Tensor:
        return self(self.tokenize(texts, self.config.query_prefix, self.config.max_query_length))

    def passages(self, texts: list[str]) -> torch.Tensor:
        return self(self.tokenize(texts, self.config.passage_prefix, self.config.max_passage_length))

    def save(self, directory: Path, **card) -> None:
        """Weights (safetensors), tokenizer, our encoder config (plus ``card`` fields) into ``directory``."""
        self.model.save_pretrained(directory, safe_serialization=True)
        self.tokenizer.save_pretrained(directory)
        self.config.save(directory, **card)
