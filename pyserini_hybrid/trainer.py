"""The training loop: sampler → encoder → InfoNCE, with checkpoints that resume bit-identically.

A plain loop rather than transformers' Trainer: resuming must restore our sampler's mid-stream state,
every rank must draw the same batch type, and the encoder runs twice per step (queries, passages),
which DistributedDataParallel's once-per-backward gradient hooks do not allow; so gradients are
averaged over ranks explicitly after backward.

Output directory = model directory: weights, tokenizer, ``pyserini_hybrid.json``, ``training-card.json``
(written last: its presence means finished) and ``README.md``, plus ``train-log.jsonl`` (one line per
step and per validation) and ``checkpoints/step-NNNNNN/`` (atomic; the newest ``keep_checkpoints`` kept;
``checkpoints/best/`` holds the weights with the lowest validation loss, which the output exports).
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import numpy as np
import torch

from .errors import InputError
from .files import PROJECT_ROOT, atomic_directory, write_json
from .loss import gather_with_grad, info_nce
from .modeling import BiEncoder
from .pairs import PairSet, load_pairs, split_validation
from .recipe import Recipe
from .samplers import Batch, HybridBatchSampler, validation_batches

CARD = "training-card.json"
LOG = "train-log.jsonl"
RECIPE = "train-recipe.json"


def _dist():
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def init_distributed() -> tuple[int, int]:
    """torchrun sets WORLD_SIZE/RANK; gloo on CPU, nccl on GPUs."""
    import torch.distributed as dist

    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    return _dist()


def git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "-C", str(PROJECT_ROOT), "rev-parse", "HEAD"], capture_output=True, text=True,
                             timeout=10)
        return out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def linear_schedule(optimizer, warmup: int, total: int):
    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / max(1, warmup)
        return max(0.0, (total - step) / max(1, total - warmup))
    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def optimizer_for(model: BiEncoder, lr: float, weight_decay: float):
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
        if t.batch_size % (self.world) != 0:
            raise InputError(f"train.batch_size {t.batch_size} is not divisible by the {self.world} ranks")
        if t.threads:
            torch.set_num_threads(t.threads)
        self.pairs: PairSet = _pairs(data, tuple(recipe.data.languages or ()), tuple(recipe.data.datasets or ()),
                                     recipe.data.context, quiet or self.rank != 0)
        self.train_rows, self.val_rows = split_validation(self.pairs, recipe.data.validation_percent)
        self.sampler = HybridBatchSampler(self.pairs, self.train_rows, t.batch_size, t.alpha, t.seed)
        self.val_batches = validation_batches(self.pairs, self.val_rows, t.batch_size, t.seed)
        self.bm25_negatives = self._mine() if recipe.data.hard_negatives == "bm25" else {}
        torch.manual_seed(t.seed + self.rank)
        self.model = BiEncoder.build(recipe.model)
        self.frozen = self.model.freeze_word_embeddings() if t.freeze_word_embeddings else 0
        self.model.train()
        self.optimizer = optimizer_for(self.model, t.lr, t.weight_decay)
        self.scheduler = linear_schedule(self.optimizer, int(t.warmup_ratio * t.steps), t.steps)
        self.step = 0
        self.best = {"loss": None, "step": None}
        self.seconds = 0.0

    # ---------------------------------------------------------------- state
    def _trainable(self) -> dict:
        """The trained tensors only: frozen ones are the starting model's, restored by building it again."""
        names = {n for n, p in self.model.named_parameters() if p.requires_grad}
        return {n: t.detach().clone() for n, t in self.model.state_dict().items() if n in names}

    def _checkpoints(self) -> list[Path]:
        root = self.output / "checkpoints"
        return sorted(p for p in root.glob("step-*") if (p / "state.pt").is_file()) if root.is_dir() else []

    def save_checkpoint(self) -> Path:
        rng = torch.get_rng_state()
        if self.world > 1:
            import torch.distributed as dist

            states = [None] * self.world
            dist.all_gather_object(states, rng)
        else:
            states = [rng]
        path = self.output / "checkpoints" / f"step-{self.step:06d}"
        if self.rank == 0:
            state = {"step": self.step, "model": self._trainable(), "optimizer": self.optimizer.state_dict(),
                     "scheduler": self.scheduler.state_dict(), "torch_rng": states,
                     "sampler": self.sampler.state_dict(), "best": dict(self.best), "seconds": self.seconds,
                     "recipe": self.recipe.fingerprint()}
            try:
                with atomic_directory(path) as tmp:
                    torch.save(state, tmp / "state.pt")
            except OSError as e:
                last = self._checkpoints()
                raise InputError(f"checkpoint at step {self.step} could not be written ({e.strerror or e}); "
                                 f"the last good one is intact: {last[-1] if last else 'none yet'}") from None
            for old in self._checkpoints()[:-self.recipe.train.keep_checkpoints]:
                shutil.rmtree(old, ignore_errors=True)
        return path

    def resume(self) -> bool:
        found = self._checkpoints()
        if not found:
            return False
        state = torch.load(found[-1] / "state.pt", weights_only=False)
        if state["recipe"] != self.recipe.fingerprint():
            raise InputError(f"{found[-1]} was written by another recipe; use a new --output or remove it")
        missing = self.model.load_state_dict(state["model"], strict=False)
        if missing.unexpected_keys:
            raise InputError(f"{found[-1]}: weights do not fit the model ({missing.unexpected_keys[:3]} ...)")
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.sampler.load_state_dict(state["sampler"])
        rngs = state["torch_rng"]
        torch.set_rng_state(rngs[self.rank] if self.rank < len(rngs) else rngs[0])
        self.step, self.best, self.seconds = state["step"], state["best"], state["seconds"]
        if self.rank == 0:  # the killed run may have logged steps past the checkpoint
            log = self.output / LOG
            if log.is_file():
                keep = [x for x in log.read_text(encoding="utf-8").splitlines()
                        if x.strip() and json.loads(x).get("step", 0) <= self.step]
                log.write_text("".join(x + "\n" for x in keep), encoding="utf-8")
        return True

    # ---------------------------------------------------------------- steps
    def _mine(self) -> dict:
        """BM25 negatives of the training rows; rank 0 mines (and caches), the other ranks then read."""
        from .negatives import mine_bm25_negatives

        if self.world > 1:
            import torch.distributed as dist

            if self.rank == 0:
                mined = mine_bm25_negatives(self.pairs, self.train_rows, self.negatives_cache, quiet=self.quiet)
            dist.barrier()
            if self.rank != 0:
                mined = mine_bm25_negatives(self.pairs, self.train_rows, self.negatives_cache, quiet=True)
            return mined
        return mine_bm25_negatives(self.pairs, self.train_rows, self.negatives_cache, quiet=self.quiet)

    def _negatives(self, batch: Batch, micro: int) -> list[str]:
        mode = self.recipe.data.hard_negatives
        if mode == "bm25":
            return [self.pairs.candidate(*self.bm25_negatives[r]) for r in batch.positives if r in self.bm25_negatives]
        if mode != "paragraph":
            return []
        rng = np.random.default_rng([self.recipe.train.seed, self.step, micro])
        out = []
        for row in batch.positives:
            options = self.pairs.paragraph_negatives(row)
            if options:
                out.append(options[int(rng.integers(len(options)))])
        return out

    def batch_loss(self, batch: Batch, micro: int = 0) -> torch.Tensor:
        q = self.model.queries([self.pairs.query[i] for i in batch.queries])
        p = self.model.passages([self.pairs.positive(i) for i in batch.positives])
        negatives = self._negatives(batch, micro)
        n = self.model.passages(negatives) if negatives else None
        return info_nce(q, gather_with_grad(p), self.recipe.train.temperature, n, offset=self.rank * len(q))

    def train_step(self) -> dict:
        t = self.recipe.train
        start = time.perf_counter()
        self.optimizer.zero_grad(set_to_none=True)
        losses, batches = [], []
        for micro in range(t.grad_accum):
            batch = self.sampler.next_batch()
            batches.append(batch)
            loss = self.batch_loss(batch.shard(self.rank, self.world), micro) / t.grad_accum
            loss.backward()
            losses.append(loss.item() * t.grad_accum)
        if self.world > 1:
            import torch.distributed as dist

            for p in self.model.parameters():
                if p.grad is not None:
                    dist.all_reduce(p.grad)
                    p.grad.div_(self.world)
            mean = torch.tensor(losses)
            dist.all_reduce(mean)
            losses = (mean / self.world).tolist()
        torch.nn.utils.clip_grad_norm_([p for p in self.model.parameters() if p.requires_grad], t.max_grad_norm)
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
        self.model.eval()  # each rank scores the whole fixed set alone (no gathering)
        try:
            with torch.inference_mode():
                by = {"mono": [], "cross": []}
                for b in self.val_batches:
                    q = self.model.queries([self.pairs.query[i] for i in b.queries])
                    p = self.model.passages([self.pairs.positive(i) for i in b.positives])
                    by[b.kind].append(info_nce(q, p, self.recipe.train.temperature).item())
        finally:
            self.model.train()
        every = by["mono"] + by["cross"]
        return {"step": self.step, "val_loss": float(np.mean(every)),
                "val_loss_mono": float(np.mean(by["mono"])) if by["mono"] else None,
                "val_loss_cross": float(np.mean(by["cross"])) if by["cross"] else None,
                "val_batches": len(every)}

    # ---------------------------------------------------------------- run
    def _log(self, record: dict) -> None:
        if self.rank == 0:
            with open(self.output / LOG, "a", encoding="utf-8") as f:
                f.write(json.dumps(record, ensure_ascii=False) + "\n")

    def _save_best(self) -> None:
        if self.rank == 0:
            with atomic_directory(self.output / "checkpoints" / "best") as tmp:
                torch.save({"step": self.step, "model": self._trainable()}, tmp / "weights.pt")

    def run(self) -> Path:
        from tqdm import tqdm

        t = self.recipe.train
        self.output.mkdir(parents=True, exist_ok=True)
        if self.rank == 0:
            write_json(self.output / RECIPE, {"fingerprint": self.recipe.fingerprint(), **self.recipe.to_dict()})
        resumed = self.resume()
        bar = tqdm(total=t.steps, initial=self.step, desc="train", unit="step",
                   disable=self.quiet or self.rank != 0)
        if resumed and self.rank == 0 and not self.quiet:
            bar.write(f"resumed from step {self.step}")
        while self.step < t.steps:
            record = self.train_step()
            self._log(record)
            bar.update(1)
            bar.set_postfix(loss=f"{record['loss']:.3f}", batch="/".join(record["langs"]))
            last = self.step == t.steps
            if self.step % t.eval_every == 0 or last:
                val = self.validate()
                if val:
                    self._log(val)
                    if self.best["loss"] is None or val["val_loss"] < self.best["loss"]:
                        self.best = {"loss": val["val_loss"], "step": self.step}
                        self._save_best()
            if self.step % t.save_every == 0 or last:
                self.save_checkpoint()
        bar.close()
        if self.rank == 0:
            self.export()
        if self.world > 1:
            import torch.distributed as dist

            dist.barrier()
        return self.output

    def export(self) -> None:
        """The selected weights (lowest validation loss, else the last step) as the model directory."""
        best = self.output / "checkpoints" / "best" / "weights.pt"
        chosen = self.step
        if best.is_file():
            saved = torch.load(best, weights_only=False)
            self.model.load_state_dict(saved["model"], strict=False)
            chosen = saved["step"]
        log = [json.loads(x) for x in (self.output / LOG).read_text(encoding="utf-8").splitlines() if x.strip()]
        steps = [r for r in log if "loss" in r]
        kinds = [k for r in steps for k in r["kind"]]
        card = {
            "recipe": self.recipe.to_dict(), "recipe_file": self.recipe.source,
            "recipe_fingerprint": self.recipe.fingerprint(),
            "data": self.pairs.counts, "train_pairs": len(self.train_rows), "validation_pairs": len(self.val_rows),
            "steps": self.step, "exported_step": chosen, "selection": "lowest validation loss" if best.is_file()
            else "last step", "best_val_loss": self.best["loss"],
            "final_train_loss_mean_last_10": float(np.mean([r["loss"] for r in steps[-10:]])) if steps else None,
            "first_train_loss": steps[0]["loss"] if steps else None,
            "batches": {"mono": kinds.count("mono"), "cross": kinds.count("cross"),
                        "realised_alpha": kinds.count("mono") / len(kinds) if kinds else None},
            "frozen_word_embedding_parameters": self.frozen, "world_size": self.world,
            "threads": torch.get_num_threads(), "seconds": round(self.seconds, 1),
            "torch": torch.__version__, "git_commit": git_commit(),
        }
        tmp = self.output / ".export"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
        self.model.save(tmp, trained_with="pyserini-hybrid", training_card=CARD)
        (tmp / "README.md").write_text(model_card_text(card), encoding="utf-8")
        for f in tmp.iterdir():
            os.replace(f, self.output / f.name)
        tmp.rmdir()
        write_json(self.output / CARD, card)  # last: marks the directory complete


def model_card_text(card: dict) -> str:
    r = card["recipe"]
    return "\n".join([
        "# pyserini-hybrid encoder", "",
        f"Fine-tuned from `{r['model']['name']}` with {'hybrid' if 0 < r['train']['alpha'] < 1 else 'X-X-mono' if r['train']['alpha'] == 1 else 'X-Y'}"
        f" batches (alpha = {r['train']['alpha']}, realised {card['batches']['realised_alpha']}) for {card['steps']} steps "
        f"of {r['train']['batch_size']} pairs; exported step {card['exported_step']} ({card['selection']}).",
        f"Training pairs {card['train_pairs']}, validation pairs {card['validation_pairs']} (held-out training "
        f"paragraphs); best validation loss {card['best_val_loss']}; {card['seconds']} s; commit {card['git_commit']}.",
        "", "Use with Pyserini through `python -m pyserini_hybrid.encode ... --encoder-class hybrid --encoder <this dir>`,",
        f"or stock Pyserini: `--encoder-class auto --pooling {r['model']['pooling']}"
        f"{' --l2-norm' if r['model']['l2_norm'] else ''}` with the prefixes below (Pyserini adds the space).", "",
        f"query prefix `{r['model']['query_prefix']}`, passage prefix `{r['model']['passage_prefix']}`; "
        "full details in `training-card.json`, every step in `train-log.jsonl`.", ""])


@functools.lru_cache(maxsize=4)
def _pairs(data, languages: tuple, datasets: tuple, context: bool, quiet: bool) -> PairSet:
    """Pairs are read and sentence-split once per process: a study trains many models from the same data
    (nothing mutates a PairSet after loading)."""
    return load_pairs(data, list(languages) or None, list(datasets) or None, context, quiet=quiet)


def train(recipe: Recipe, output: Path, data: str | None = None, quiet: bool = False) -> Path:
    """Train (or resume, or return at once when ``output`` already holds this recipe's finished model)."""
    output = Path(output)
    card = output / CARD
    if card.is_file():
        done = json.loads(card.read_text(encoding="utf-8"))
        if done.get("recipe_fingerprint") == recipe.fingerprint():
            if not quiet:
                print(f"{output}: already trained with this recipe ({done['steps']} steps)")
            return output
        raise InputError(f"{output} holds a model trained with another recipe; choose another --output")
    return Trainer(recipe, output, data, quiet).run()
