"""The training loop: sampler → encoder (under DDP) → InfoNCE, with checkpoints that resume bit-identically.

A plain loop rather than transformers' Trainer: resuming must restore our sampler's mid-stream state and
every rank must draw the same batch type. The encoder module runs once per micro-batch,
``forward(queries, passages[, negatives])``, wrapped in DistributedDataParallel when there are several
ranks (Tevatron's layout); each side is encoded in length-sorted sub-batches, so a step pays for real tokens
rather than padding (``train.pad_multiple`` rounds lengths up, for fewer oneDNN kernels; off by default, measured
slower). ``train.precision = "bf16"`` runs forward and loss under autocast with fp32 master weights, optimiser
state, checkpoints and exported weights; ``auto`` times both on this model first (``models.precision``) and
records the decision in the training card.

Output directory = model directory (for sentence-transformers too): weights, tokenizer, ``pyserini_hybrid.json``,
``training-card.json`` (written last: its presence means finished), ``README.md`` (the model card: data,
languages, decontamination, batching), ``train-log.jsonl`` and ``checkpoints/step-NNNNNN/``. The exported
weights are the last step's: no checkpoint is picked by a validation number (validation is only logged).
"""

from __future__ import annotations

import contextlib
import functools
import json
import math
import os
import shutil
import time
from pathlib import Path

import numpy as np
import torch

from ..core.errors import InputError
from ..core.files import clean_temps_in, data_dir, load_json, raise_named, temp_dir_in, write_json
from ..core.lock import output_lock  # issue 19: one writer per output
from ..models.encoder import BiEncoder, token_ids
from ..models.probe import TrainStep, choose_for
from . import checkpoints, sets
from .card import CARD, card, model_card_text, read_log
from .checkpoints import LOG
from .distributed import all_gather_object, barrier, gather_with_grad, init_distributed, mean_over_ranks, no_sync, wrap
from .loss import info_nce
from .negatives import mine_bm25_negatives
from .pairs import PairSet, load_pairs, split_validation
from .recipe import Recipe
from .samplers import Batch, HybridBatchSampler, validation_batches
from .validation import build_task, evaluate as evaluate_retrieval

RECIPE = "train-recipe.json"


def lr_schedule(optimizer, train):
    """Linear warm-up, then linear decay to 0 at the last step (``linear``) or constant (``constant``: the
    learning rate at step N does not depend on the total, so one run's step-N model is the N-step budget)."""
    total = train.steps
    warmup = train.warmup_steps if train.schedule == "constant" else int(train.warmup_ratio * total)

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / max(1, warmup)
        if train.schedule == "constant":
            return 1.0
        return max(0.0, (total - step) / max(1, total - warmup))
    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def optimizer_for(model: torch.nn.Module, lr: float, weight_decay: float):
    """AdamW; no decay on biases and LayerNorm weights (BERT convention)."""
    decay, plain = [], []
    for name, p in model.named_parameters():
        if p.requires_grad:
            (plain if p.ndim < 2 or "LayerNorm" in name or "layer_norm" in name else decay).append(p)
    return torch.optim.AdamW([{"params": decay, "weight_decay": weight_decay},
                              {"params": plain, "weight_decay": 0.0}], lr=lr)


class Trainer:
    def __init__(self, recipe: Recipe, output: Path, data: str | None = None, quiet: bool = False,
                 negatives_cache: Path | None = None):
        self.recipe, self.output, self.quiet = recipe, Path(output), quiet
        self.negatives_cache = negatives_cache
        self.rank, self.world = init_distributed()
        t = recipe.train
        if t.batch_size % self.world != 0:
            raise InputError(f"train.batch_size {t.batch_size} is not divisible by the {self.world} ranks")
        if t.threads:
            torch.set_num_threads(t.threads)
        self.device = "cuda" if torch.cuda.is_available() else "cpu"
        d, files = recipe.data, tuple(map(str, sets.files(data_dir(data))))  # the declaration files in reach
        self.pairs: PairSet = _pairs(data, tuple(d.languages), tuple(d.datasets), d.context, quiet or self.rank != 0,
                                     tuple(d.decontaminate), files)
        self.train_rows, self.val_rows = split_validation(self.pairs, recipe.data.validation_percent)
        self.sampler = HybridBatchSampler(self.pairs, self.train_rows, t.batch_size, t.alpha, t.seed)
        self.val_batches = validation_batches(self.pairs, self.val_rows, t.batch_size, t.seed)
        self.val_task = build_task(self.pairs, self.val_rows, recipe.data.validation_groups)
        self.bm25_negatives = self._mine() if recipe.data.hard_negatives == "bm25" else {}
        torch.manual_seed(t.seed + self.rank)
        self.model = BiEncoder.build(recipe.model.name, recipe.model.encoder_config(), t.sub_batch, t.pad_multiple)
        self.model.module.to(self.device)
        self.frozen = self.model.freeze_word_embeddings() if t.freeze_word_embeddings else 0
        self.model.module.train()
        # auto is measured on this model before anything else runs (the probe restores RNG and gradients);
        # a run that will resume takes its checkpoint's precision instead (decided in run())
        self.precision, self.precision_choice = None, None
        if t.precision != "auto" or not checkpoints.checkpoints(self.output):
            self.choose_precision()
        self.ddp = wrap(self.model.module)
        self.optimizer = optimizer_for(self.model.module, t.lr, t.weight_decay)
        self.scheduler = lr_schedule(self.optimizer, t)
        self.step, self.seconds = 0, 0.0
        self.resumed_seconds = 0.0  # step time of earlier attempts (a checkpoint's), so costs count every attempt

    def choose_precision(self) -> None:
        """``train.precision``, or what ``auto`` decides for this model on this machine (rank 0 decides for all)."""
        t = self.recipe.train
        choice = None
        if self.rank == 0:
            pairs = t.batch_size // self.world
            step = TrainStep(t.sub_batch, min(pairs, 2 * t.sub_batch if t.sub_batch else 16), t.pad_multiple)
            choice = choose_for(t.precision, "train", (self.model.model, self.model.tokenizer, self.model.config),
                                self.device, step, quiet=self.quiet, frozen=bool(self.frozen))
        choice = all_gather_object(choice)[0]
        self.precision, self.precision_choice = choice.precision, choice.record()

    def _autocast(self):
        if self.precision == "bf16":
            return torch.autocast(self.device, dtype=torch.bfloat16)
        return contextlib.nullcontext()

    # ---------------------------------------------------------------- steps
    def _mine(self) -> dict:
        """BM25 negatives of the training rows; rank 0 mines (and caches), the other ranks then read."""
        if self.world > 1 and self.rank != 0:
            barrier()
            return mine_bm25_negatives(self.pairs, self.train_rows, self.negatives_cache, quiet=True)
        mined = mine_bm25_negatives(self.pairs, self.train_rows, self.negatives_cache, quiet=self.quiet)
        if self.world > 1:
            barrier()
        return mined

    def _negatives(self, batch: Batch, micro: int) -> list[str]:
        mode = self.recipe.data.hard_negatives
        if mode == "bm25":
            return [self.pairs.candidate(*self.bm25_negatives[r]) for r in batch.positives if r in self.bm25_negatives]
        if mode != "paragraph":
            return []
        out = []
        for row in batch.positives:  # drawn per row: the same negatives however the batch is split over ranks
            options = self.pairs.paragraph_negatives(row)
            if options:
                rng = np.random.default_rng([self.recipe.train.seed, self.step, micro, row])
                out.append(options[int(rng.integers(len(options)))])
        return out

    def batch_loss(self, batch: Batch, micro: int = 0) -> torch.Tensor:
        """This rank's share of the loss: its queries against every rank's passages and hard negatives."""
        t = self.recipe.train
        with self._autocast():
            q, p, n = self.model([self.pairs.query[i] for i in batch.queries],
                                 [self.pairs.positive(i) for i in batch.positives],
                                 self._negatives(batch, micro), module=self.ddp)
            if self.world > 1:  # every rank takes part in the gather, with or without negatives of its own
                n = gather_with_grad(n if n is not None else p[:0])
            return info_nce(q, gather_with_grad(p), t.temperature, n, offset=self.rank * len(q),
                            normalize=self.recipe.model.l2_norm)

    def train_step(self) -> dict:
        t = self.recipe.train
        start = time.perf_counter()
        self.optimizer.zero_grad(set_to_none=True)
        losses, batches = [], []
        for micro in range(t.grad_accum):
            batch = self.sampler.next_batch()
            batches.append(batch)
            with no_sync(self.ddp, micro < t.grad_accum - 1):
                loss = self.batch_loss(batch.shard(self.rank, self.world), micro) / t.grad_accum
                loss.backward()
            losses.append(loss.item() * t.grad_accum)
        losses = mean_over_ranks(losses)
        torch.nn.utils.clip_grad_norm_([p for p in self.model.module.parameters() if p.requires_grad],
                                       t.max_grad_norm)
        lr = self.scheduler.get_last_lr()[0]
        self.optimizer.step()
        self.scheduler.step()
        self.step += 1
        seconds = time.perf_counter() - start
        self.seconds += seconds
        return {"step": self.step, "loss": float(np.mean(losses)), "kind": [b.kind for b in batches],
                "dataset": [b.dataset for b in batches], "langs": [f"{b.query_lang}-{b.passage_lang}" for b in batches],
                "lr": lr, "seconds": round(seconds, 3)}

    def validate(self) -> dict:
        """Loss on held-out training paragraphs (never on an evaluation set), dropout off."""
        if not self.val_batches:
            return {}
        module = self.model.module
        module.eval()  # each rank scores the whole fixed set alone (no gathering)
        try:
            with torch.inference_mode(), self._autocast():
                by = {"mono": [], "cross": []}
                for b in self.val_batches:
                    q, p, _ = self.model([self.pairs.query[i] for i in b.queries],
                                         [self.pairs.positive(i) for i in b.positives])
                    by[b.kind].append(info_nce(q, p, self.recipe.train.temperature,
                                               normalize=self.recipe.model.l2_norm).item())
            if self.val_task is not None:
                with torch.inference_mode(), self._autocast():
                    retrieval = evaluate_retrieval(self.val_task, self.pairs, self._embedder("query"),
                                                   self._embedder("passage"), self.recipe.model.l2_norm)
            else:
                retrieval = {}
        finally:
            module.train()
        every = by["mono"] + by["cross"]
        return {"step": self.step, **retrieval, "val_loss": float(np.mean(every)),
                "val_loss_mono": float(np.mean(by["mono"])) if by["mono"] else None,
                "val_loss_cross": float(np.mean(by["cross"])) if by["cross"] else None,
                "val_batches": len(every)}

    def _embedder(self, side: str):
        """texts -> pooled embeddings with this side's prefix and length, in batches of 64."""
        c = self.model.config
        prefix, length = (c.query_prefix, c.max_query_length) if side == "query" else (c.passage_prefix,
                                                                                        c.max_passage_length)

        def embed(texts):
            ids = token_ids(self.model.tokenizer, texts, prefix, length)
            return torch.cat([self.model.module.embed(ids[i:i + 64]) for i in range(0, len(ids), 64)])
        return embed

    # ---------------------------------------------------------------- run
    def _log(self, record: dict) -> None:
        if self.rank == 0:
            try:
                with open(self.output / LOG, "a", encoding="utf-8") as f:
                    f.write(json.dumps(record, ensure_ascii=False) + "\n")
            except OSError as e:  # a full disk names the log, not "output"
                raise_named(e, self.output / LOG)
                raise

    def run(self) -> Path:
        from tqdm import tqdm

        t = self.recipe.train
        self.output.mkdir(parents=True, exist_ok=True)
        if self.rank == 0:
            write_json(self.output / RECIPE, {"fingerprint": self.recipe.fingerprint(), **self.recipe.to_dict()})
        resumed = checkpoints.resume(self)
        self.resumed_seconds = self.seconds if resumed else 0.0
        if self.precision is None:  # a checkpoint was expected but none could be read: decide now
            self.choose_precision()
        elif resumed and (self.precision_choice or {}).get("precision") != self.precision:
            self.precision_choice = {"precision": self.precision, "requested": t.precision,
                                     "how": "resumed in its checkpoint's precision"}
        bar = tqdm(total=t.steps, initial=self.step, desc=f"train ({self.precision})", unit="step",
                   disable=self.quiet or self.rank != 0)
        if resumed and self.rank == 0 and not self.quiet:
            bar.write(f"resumed from step {self.step}")
        while self.step < t.steps:
            record = self.train_step()
            self._log(record)
            if not math.isfinite(record["loss"]):  # the weights are ruined: stop before checkpointing them
                raise InputError(f"{self.output}: the loss of step {self.step} is {record['loss']}; training "
                                 f"stopped, nothing exported (train.lr {t.lr} or train.temperature "
                                 f"{t.temperature} too large or too small?)")
            bar.update(1)
            bar.set_postfix(loss=f"{record['loss']:.3f}", batch="/".join(record["langs"]))
            last = self.step == t.steps
            if self.step % t.eval_every == 0 or last:
                val = self.validate()
                if val:
                    self._log(val)
            if self.step in t.export_steps and self.rank == 0:
                self.export(self.output / "budgets" / f"step-{self.step:06d}")
            if self.step % t.save_every == 0 or last or self.step in t.export_steps:
                checkpoints.save(self)
        bar.close()
        if self.rank == 0:
            self.export()
        barrier()
        return self.output

    def export(self, where: Path | None = None) -> None:
        """This step's weights (fp32) as a model directory: the output itself at the last step, or a budget's
        ``budgets/step-N/`` (the model after N steps of the same run); the card is written last."""
        where = where or self.output
        checkpoints.refuse_not_finite(self, self.model.model.state_dict(), f"model {where}")
        record = card(self, [r for r in read_log(self.output / LOG) if r.get("step", 0) <= self.step])
        where.mkdir(parents=True, exist_ok=True)
        clean_temps_in(where)  # a killed export's temporaries (under the output's lock: no live writer's)
        tmp = temp_dir_in(where, "export")
        try:
            self.model.save(tmp, trained_with="pyserini-hybrid", training_card=CARD)
            (tmp / "README.md").write_text(model_card_text(record), encoding="utf-8")
            for f in tmp.iterdir():  # (sentence-transformers' module folders replace an older export's)
                shutil.rmtree(where / f.name) if (where / f.name).is_dir() else None
                os.replace(f, where / f.name)
        except Exception as e:  # a full disk (safetensors raises its own error type): one line, not a traceback
            raise checkpoints.export_failed(where, self.step, e) from None
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        write_json(where / CARD, record)  # last: marks the directory complete


@functools.lru_cache(maxsize=4)
def _pairs(data, languages: tuple, datasets: tuple, context: bool, quiet: bool, decontaminate: tuple,
           _declarations: tuple) -> PairSet:
    """Pairs are read and sentence-split once per process: a study trains many models from the same data
    (nothing mutates a PairSet after loading); keyed by the declaration files in reach too."""
    return load_pairs(data, list(languages) or None, list(datasets) or None, context, quiet, list(decontaminate))


def train(recipe: Recipe, output: Path, data: str | None = None, quiet: bool = False) -> Path:
    """Train (or resume, or return at once when ``output`` already holds this recipe's finished model)."""
    output = Path(output)
    done = output / CARD
    if done.is_file():
        finished = load_json(done)
        if finished.get("recipe_fingerprint") != recipe.fingerprint():
            raise InputError(f"{output} holds a model trained with another recipe; choose another --output")
        if not checkpoints.export_damage(output):
            if not quiet:
                print(f"{output}: already trained with this recipe ({finished['steps']} steps)")
            return output
    # issue 19, one writer per output: a second training run on it exits 2 naming this one's pid
    # (under torchrun rank 0 holds the lock for all ranks)
    with output_lock(output, "training run") if os.environ.get("RANK", "0") == "0" else contextlib.nullcontext():
        if done.is_file():  # a damaged export: the final checkpoint rebuilds it, or one line says why not
            checkpoints.reexport_damaged(output)
        return Trainer(recipe, output, data, quiet).run()
