"""Character language model: next-character cross-entropy, perplexity and bits per character, sampling.

The net maps (tokens, state) -> (logits, state) (lab.nets.rnn.RecurrentLM, lab.nets.transformer.CausalTransformer):
an RNN carries its hidden state, the transformer its key/value cache; generation is one loop over that interface.
The vocabulary lives in the buffer `vocab_codes` (code points, -1 for unused slots): it is filled from the
datamodule at setup, saved in every checkpoint with the weights, and unused slots are masked out of the softmax.
"""

from __future__ import annotations

from typing import Callable

import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from torch import nn
from torchmetrics.text import Perplexity

from lab.data.text import encode
from lab.errors import LabError
from lab.models.optim import configure_optimizers
from lab.models.supervised_steps import SupervisedSteps
from lab.models.train_log import TrainLog


class LanguageModel(SupervisedSteps, pl.LightningModule):
    def __init__(self, net: nn.Module, vocab_size: int, optimizer: Callable, scheduler: Callable | None = None,
                 sample_prompt: str = "def ", sample_length: int = 300, temperature: float = 0.8,
                 top_k: int | None = None, compile: bool = False) -> None:
        super().__init__()
        self.save_hyperparameters(ignore=["net", "optimizer", "scheduler"], logger=False)
        self.net = net
        self.optimizer, self.scheduler = optimizer, scheduler
        self.train_log = TrainLog()
        self.register_buffer("vocab_codes", torch.full((vocab_size,), -1, dtype=torch.long))
        self.perplexity = nn.ModuleDict({stage: Perplexity() for stage in ("val", "test")})
        # `compile`: training and evaluation run the net's forward through torch.compile; a compiled function, not
        # a module, so the state-dict keys stay those of `net`. Generation runs `net` eagerly.
        self._compiled_forward = torch.compile(self.net.forward) if compile else None

    @property
    def vocab(self) -> str:
        return "".join(chr(code) for code in self.vocab_codes.tolist() if code >= 0)

    def set_vocab(self, vocab: str) -> None:
        if len(vocab) > len(self.vocab_codes):
            raise LabError(f"vocabulary of {len(vocab)} characters does not fit "
                           f"model.vocab_size={len(self.vocab_codes)}")
        codes = torch.full_like(self.vocab_codes, -1)
        codes[:len(vocab)] = torch.tensor([ord(char) for char in vocab], dtype=torch.long)
        self.vocab_codes.copy_(codes)

    def setup(self, stage: str) -> None:
        datamodule = self.trainer.datamodule if self.trainer is not None else None
        vocab = getattr(datamodule, "vocab", "")
        if not vocab:
            raise LabError("the language model needs a text datamodule (data=text) that provides a vocabulary")
        self.set_vocab(vocab)
        unknown = sorted(set(self.hparams.sample_prompt) - set(vocab))
        if unknown:
            raise LabError(f"model.sample_prompt={self.hparams.sample_prompt!r} has characters the corpus lacks: "
                           f"{''.join(unknown)!r}; set model.sample_prompt to text from the corpus")
        context = getattr(self.net, "context", None)
        if context is not None and datamodule.seq_len > context:
            raise LabError(f"data.seq_len={datamodule.seq_len} is longer than the attention context "
                           f"model.net.context={context}; raise the context or lower data.seq_len")

    def forward(self, tokens: torch.Tensor, state=None, **net_options):
        """Logits (batch, time, vocab_size) with unused vocabulary slots at -inf, and the net's state."""
        logits, state = self.net(tokens, state, **net_options)
        return self._mask_unused(logits), state

    def _mask_unused(self, logits: torch.Tensor) -> torch.Tensor:
        unused = self.vocab_codes < 0
        if unused.all():
            return logits
        return logits.masked_fill(unused, float("-inf"))

    def _loss(self, batch) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        window = batch[0]
        inputs, targets = window[:, :-1], window[:, 1:]
        logits = self._mask_unused((self._compiled_forward or self.net)(inputs)[0])
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1)), logits, targets

    def on_fit_start(self) -> None:
        count = sum(p.numel() for p in self.parameters())  # a tensor shared by two layers counts once
        self.print(f"{type(self.net).__name__}: {count:,} parameters")

    def _eval_step(self, batch, stage: str) -> None:
        loss, logits, targets = self._loss(batch)
        self.perplexity[stage].update(logits, targets)
        self.log(f"{stage}/loss", loss, on_epoch=True)

    def _eval_epoch_end(self, stage: str) -> None:
        ppl = self.perplexity[stage].compute()
        self.perplexity[stage].reset()
        self.log(f"{stage}/ppl", ppl, prog_bar=True)
        self.log(f"{stage}/bpc", torch.log2(ppl), prog_bar=True)

    def on_validation_epoch_end(self) -> None:
        super().on_validation_epoch_end()
        if not self.trainer.sanity_checking:
            self._log_sample()

    def _log_sample(self) -> None:
        hp = self.hparams
        generator = torch.Generator(device=self.device).manual_seed(self.current_epoch)
        text = self.generate(hp.sample_prompt, hp.sample_length, hp.temperature, hp.top_k, generator)
        epoch = self.current_epoch + 1  # counted from 1, as the progress bar and checkpoint names count
        self.print(f"\n--- sample, epoch {epoch}, temperature {hp.temperature} ---\n{text}\n---")
        if not self.trainer.is_global_zero:
            return
        for logger in self.trainer.loggers:
            if hasattr(logger, "log_text"):
                logger.log_text(key="samples", columns=["epoch", "prompt", "temperature", "text"],
                                data=[[epoch, hp.sample_prompt, hp.temperature, text]],
                                step=self.global_step)

    @torch.inference_mode()
    def generate(self, prompt: str, length: int = 300, temperature: float = 0.8, top_k: int | None = None,
                 generator: torch.Generator | None = None, cache: bool = True) -> str:
        """`prompt` followed by `length` sampled characters; temperature 0 picks the most likely character.
        `cache=False` makes an attention net recompute its whole window for every character (the same output,
        slower); a recurrent net always carries its hidden state."""
        if not prompt:
            raise LabError("the prompt is empty; give at least one character, e.g. prompt='def '")
        if temperature < 0:
            raise LabError(f"temperature must be >= 0 (0 = greedy), got {temperature}")
        vocab = self.vocab
        if not vocab:
            raise LabError("this language model has no vocabulary yet; train it or load it from a checkpoint")
        if not cache and getattr(self.net, "context", None) is None:
            raise LabError(f"cache=false applies to attention language models; this {type(self.net).__name__} "
                           "carries its hidden state from character to character")
        was_training = self.training
        self.eval()
        unused = self.vocab_codes < 0
        unused = unused if unused.any() else None
        logits, state = self.net(encode(prompt, vocab).to(self.device)[None], None,
                                 **({} if cache else {"cache": False}))
        chosen = []
        for i in range(length):
            last = logits[0, -1] if unused is None else logits[0, -1].masked_fill(unused, float("-inf"))
            if temperature == 0:
                token = last.argmax().view(1)
            else:
                last = last / temperature
                if top_k:
                    threshold = torch.topk(last, min(top_k, len(vocab))).values[-1]
                    last = last.masked_fill(last < threshold, float("-inf"))
                token = torch.multinomial(F.softmax(last, dim=-1), 1, generator=generator)
            chosen.append(token)
            if i + 1 < length:
                logits, state = self.net(token.view(1, 1), state)
        self.train(was_training)
        indices = torch.cat(chosen).tolist() if chosen else []
        return prompt + "".join(vocab[i] for i in indices)

    def configure_optimizers(self):
        return configure_optimizers(self, self.optimizer, self.scheduler)


