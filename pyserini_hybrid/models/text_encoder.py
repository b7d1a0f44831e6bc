"""The serving side of ``encoder``: ``TextEncoder`` embeds texts for Pyserini (length-sorted mini-batches under
``torch.inference_mode``: on a CPU every padded token costs), in the precision ``probe`` picks for the model."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from . import integrity
from . import precision as prec
from .config import EncoderConfig
from .encoder import length_sorted_chunks, load_transformer, pool, position_limit, token_ids
from .probe import choose_for


class TextEncoder:
    """Inference: a transformer with our pooling, shared by the document and the query encoder.

    ``precision``: fp32, bf16 or auto (see ``precision``); bf16 casts the weights (faster on these CPUs
    than autocast), pooling stays fp32 and the output is float32."""

    def __init__(self, model_dir: str | Path, device: str = "cpu", config: EncoderConfig | None = None,
                 precision: str | None = None):

        self.config = config or EncoderConfig.load(model_dir)
        if config is None:  # settings edited since conversion or export: said, since it may be meant
            for message in integrity.settings_drift(model_dir):
                integrity.warn(message)
        if str(device).startswith("cuda") and not torch.cuda.is_available():
            # Pyserini's encode defaults to cuda:0; on a CPU machine say so rather than fail
            print("pyserini_hybrid: CUDA is not available, encoding on the CPU", file=sys.stderr)
            device = "cpu"
        self.device = torch.device(device)
        model, self.tokenizer = load_transformer(model_dir)
        model = model.to(self.device).eval()
        # a flag (through $PYSERINI_HYBRID_PRECISION, which Pyserini's encode main does not touch) wins over the
        # model directory's setting; auto measures this model once per machine (cached)
        self.choice = choose_for(prec.resolve(precision, self.config.precision), "encode",
                                 (model, self.tokenizer, self.config), str(self.device))
        self.precision = self.choice.precision
        self.model = model.to(dtype=prec.torch_dtype(self.precision))
        self.dimension = int(self.model.config.hidden_size)
        self.max_length = position_limit(self.model)

    def embed(self, texts: list[str], prefix: str, max_length: int, batch_size: int | None = None,
              progress: str | None = None) -> np.ndarray:
        """float32 [len(texts), dim], rows in the input order; ``progress``: a bar with this label."""
        ids = token_ids(self.tokenizer, texts, prefix, min(max_length, self.max_length))
        out = np.empty((len(texts), self.dimension), dtype=np.float32)
        chunks = length_sorted_chunks(ids, batch_size or self.config.batch_size)
        with torch.inference_mode(), tqdm(total=len(texts), desc=progress, unit="text",
                                          disable=progress is None) as bar:
            for rows in chunks:
                batch = self.tokenizer.pad({"input_ids": [ids[i] for i in rows]}, return_tensors="pt").to(self.device)
                hidden = self.model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state
                out[rows] = pool(hidden, batch["attention_mask"], self.config.pooling,
                                 self.config.l2_norm).cpu().numpy()
                bar.update(len(rows))
        return out
