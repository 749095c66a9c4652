"""Character-level translation with an encoder-decoder: teacher-forced cross-entropy; greedy and beam decoding;
exact match, token accuracy and BLEU; a picture of where the decoder attends.

The net (lab.nets.seq2seq) encodes once with `start` and emits one token per `step`. Both vocabularies live in
buffers (`src_codes`, `tgt_codes`: the code point of each index, -1 for the special tokens and unused slots),
filled from the datamodule at setup and saved with the weights, so `translate` needs only the checkpoint.
"""

from __future__ import annotations

from typing import Callable, Sequence

import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from torch import nn
from torchmetrics import MeanMetric
from torchmetrics.classification import MulticlassAccuracy
from torchmetrics.text import BLEUScore

from lab.callbacks.viz import image_path, log_image, new_figure, save_figure
from lab.data.dates import BOS, EOS, PAD, SPECIALS, decode, encode
from lab.errors import LabError
from lab.models.optim import configure_optimizers
from lab.models.supervised_steps import SupervisedSteps
from lab.models.train_log import TrainLog

CHUNK = 512  # sources decoded at once by `decode`


def _select(state: dict[str, torch.Tensor], index: torch.Tensor) -> dict[str, torch.Tensor]:
    return {key: value.index_select(0, index) for key, value in state.items()}


def exact_match_by_length(sources: Sequence[str], predictions: Sequence[str], targets: Sequence[str],
                          edges: Sequence[int]) -> dict[str, tuple[float, int]]:
    """{'lo-hi': (exact match, examples)} for sources of lo <= length < hi, over consecutive `edges`
    (the last bucket is open: 'lo+')."""
    bounds = list(zip(edges, list(edges[1:]) + [None]))
    result = {}
    for lo, hi in bounds:
        hits = [p == t for s, p, t in zip(sources, predictions, targets) if lo <= len(s) and (hi is None or len(s) < hi)]
        name = f"{lo}+" if hi is None else f"{lo}-{hi - 1}"
        result[name] = (sum(hits) / len(hits) if hits else float("nan"), len(hits))
    return result


class Translator(SupervisedSteps, pl.LightningModule):
    def __init__(self, net: nn.Module, src_vocab_size: int, tgt_vocab_size: int, optimizer: Callable,
                 scheduler: Callable | None = None, max_output_len: int = 16, label_smoothing: float = 0.0,
                 length_buckets: Sequence[int] = (0, 12, 18, 24)) -> None:
        super().__init__()
        self.save_hyperparameters(ignore=["net", "optimizer", "scheduler"], logger=False)
        self.net = net
        self.optimizer, self.scheduler = optimizer, scheduler
        self.train_log = TrainLog()
        self.register_buffer("src_codes", torch.full((src_vocab_size,), -1, dtype=torch.long))
        self.register_buffer("tgt_codes", torch.full((tgt_vocab_size,), -1, dtype=torch.long))
        self.metrics = nn.ModuleDict()
        for stage in ("val", "test"):
            self.metrics[f"{stage}_exact_match"] = MeanMetric()
            self.metrics[f"{stage}_token_acc"] = MulticlassAccuracy(tgt_vocab_size, average="micro",
                                                                    ignore_index=PAD, validate_args=False)
            self.metrics[f"{stage}_bleu"] = BLEUScore(n_gram=4)
        self._by_length: list[tuple[str, str, str]] = []

    # vocabularies
    @staticmethod
    def _chars(codes: torch.Tensor) -> str:
        return "".join(chr(code) for code in codes[SPECIALS:].tolist() if code >= 0)

    @property
    def src_vocab(self) -> str:
        return self._chars(self.src_codes)

    @property
    def tgt_vocab(self) -> str:
        return self._chars(self.tgt_codes)

    def set_vocab(self, src_vocab: str, tgt_vocab: str) -> None:
        for name, vocab, codes in (("src", src_vocab, self.src_codes), ("tgt", tgt_vocab, self.tgt_codes)):
            if SPECIALS + len(vocab) > len(codes):
                raise LabError(f"a vocabulary of {len(vocab)} characters and {SPECIALS} special tokens does not fit "
                               f"model.{name}_vocab_size={len(codes)}")
            filled = torch.full_like(codes, -1)
            filled[SPECIALS:SPECIALS + len(vocab)] = torch.tensor([ord(char) for char in vocab], dtype=torch.long)
            codes.copy_(filled)

    def setup(self, stage: str) -> None:
        datamodule = self.trainer.datamodule if self.trainer is not None else None
        src_vocab, tgt_vocab = getattr(datamodule, "src_vocab", ""), getattr(datamodule, "tgt_vocab", "")
        if not (src_vocab and tgt_vocab):
            raise LabError("the translator needs a datamodule of text pairs with src_vocab and tgt_vocab "
                           "(data=dates)")
        self.set_vocab(src_vocab, tgt_vocab)

    # the net, with the target slots that can never be output masked
    def _mask_logits(self, logits: torch.Tensor) -> torch.Tensor:
        never = self.tgt_codes < 0
        never[EOS] = False
        return logits.masked_fill(never, float("-inf"))

    def forward(self, src: torch.Tensor, src_lengths: torch.Tensor, tgt_in: torch.Tensor):
        """Teacher forcing: logits (batch, T, tgt_vocab_size) for the tokens after each of `tgt_in`, and the
        attention weights (batch, T, S) or None."""
        logits, weights = self.net(src, src_lengths, tgt_in)
        return self._mask_logits(logits), weights

    def _step_log_probs(self, tokens: torch.Tensor, state):
        logits, state, weights = self.net.step(tokens, state)
        return F.log_softmax(self._mask_logits(logits).float(), dim=-1), state, weights

    def _loss(self, batch) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        src, src_lengths, tgt = batch
        logits, _ = self(src, src_lengths, tgt[:, :-1])
        targets = tgt[:, 1:]
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), targets.reshape(-1), ignore_index=PAD,
                               label_smoothing=self.hparams.label_smoothing)
        return loss, logits, targets

    # decoding
    @torch.no_grad()
    def greedy(self, src: torch.Tensor, src_lengths: torch.Tensor, max_len: int | None = None):
        """The most likely token at each step: (tokens (batch, L) ending in EOS then PAD, summed log-probabilities
        (batch,), attention weights (batch, L, S) or None)."""
        max_len = max_len or self.hparams.max_output_len
        state = self.net.start(src, src_lengths)
        token = torch.full((len(src),), BOS, dtype=torch.long, device=src.device)
        done = torch.zeros(len(src), dtype=torch.bool, device=src.device)
        scores = torch.zeros(len(src), device=src.device)
        chosen, weights = [], []
        for _ in range(max_len):
            log_probs, state, step_weights = self._step_log_probs(token, state)
            best, token = log_probs.max(dim=-1)
            scores += best.masked_fill(done, 0.0)
            token = token.masked_fill(done, PAD)
            chosen.append(token)
            weights.append(step_weights)
            done |= token == EOS
            if done.all():
                break
        tokens = torch.stack(chosen, dim=1)
        return tokens, scores, None if weights[0] is None else torch.stack(weights, dim=1)

    @torch.no_grad()
    def beam_search(self, src: torch.Tensor, src_lengths: torch.Tensor, beam: int, max_len: int | None = None):
        """Beam search over summed log-probabilities: (tokens (batch, L) ending in EOS then PAD, scores (batch,)).

        Each step extends every live hypothesis by every token and keeps the `beam` best that do not end; a
        hypothesis that ends (EOS) competes with the best ended one so far. A source stops when no live hypothesis
        can beat its best ended one (log-probabilities only fall); at `max_len` live hypotheses end as they are."""
        max_len = max_len or self.hparams.max_output_len
        n, k, device = len(src), beam, src.device
        rows = torch.arange(n, device=device)
        state = _select(self.net.start(src, src_lengths), rows.repeat_interleave(k))
        token = torch.full((n * k,), BOS, dtype=torch.long, device=device)
        live = torch.full((n, k), float("-inf"), device=device)
        live[:, 0] = 0.0  # one hypothesis to begin with
        history = torch.zeros((n, k, 0), dtype=torch.long, device=device)
        best = torch.full((n,), float("-inf"), device=device)
        best_tokens = torch.full((n, max_len), PAD, dtype=torch.long, device=device)
        for t in range(max_len):
            log_probs, state, _ = self._step_log_probs(token, state)
            vocab = log_probs.shape[-1]
            total = (live.view(-1, 1) + log_probs).view(n, k * vocab)
            top, index = total.topk(min(2 * k, k * vocab), dim=-1)
            parent, token = index // vocab, index % vocab
            ends = token == EOS
            ended = top.masked_fill(~ends, float("-inf")).max(dim=-1)
            better = ended.values > best
            if better.any():
                which = parent[better].gather(1, ended.indices[better][:, None])
                row_history = history[better].gather(1, which[..., None].expand(-1, 1, t))
                best[better] = ended.values[better]
                best_tokens[better] = PAD
                best_tokens[better, :t] = row_history[:, 0]
                best_tokens[better, t] = EOS
            live, keep = top.masked_fill(ends, float("-inf")).topk(k, dim=-1)
            parent, token = parent.gather(1, keep), token.gather(1, keep)
            history = torch.cat([history.gather(1, parent[..., None].expand(-1, -1, t)), token[..., None]], dim=-1)
            state = _select(state, (rows[:, None] * k + parent).view(-1))
            token = token.view(-1)
            if bool((live.max(dim=-1).values <= best).all()):
                break
        else:  # max_len reached: an unfinished hypothesis may still beat every ended one
            top_live, which = live.max(dim=-1)
            better = top_live > best
            best[better] = top_live[better]
            best_tokens[better] = history[better, which[better]]
        return best_tokens, best

    @torch.no_grad()
    def decode(self, texts: Sequence[str], beam: int = 1) -> tuple[list[str], torch.Tensor]:
        """Translations of `texts` and their log-probabilities under the model (greedy for beam=1)."""
        if beam < 1:
            raise LabError(f"beam must be >= 1 (1 = greedy), got {beam}")
        if not self.src_vocab:
            raise LabError("this translator has no vocabulary yet; train it or load it from a checkpoint")
        empty = [i for i, text in enumerate(texts) if not text]
        if empty:
            raise LabError(f"text {empty[0]} is empty; give a date such as 'Thursday, March 3, 1994'")
        longest = max(map(len, texts), default=0)
        limit = getattr(self.net, "max_len", None)
        if limit is not None and longest > limit:
            raise LabError(f"a text of {longest} characters is longer than the {limit} positions the model has "
                           "(model.net.max_len)")
        was_training = self.training
        self.eval()
        outputs, scores = [], []
        try:
            for start in range(0, len(texts), CHUNK):
                src, lengths = encode(texts[start:start + CHUNK], self.src_vocab)
                src, lengths = src.to(self.device), lengths.to(self.device)
                tokens, chunk_scores = (self.greedy(src, lengths)[:2] if beam == 1
                                        else self.beam_search(src, lengths, beam))
                outputs += [decode(row, self.tgt_vocab) for row in tokens.tolist()]
                scores.append(chunk_scores.cpu())
        finally:
            self.train(was_training)
        return outputs, torch.cat(scores) if scores else torch.zeros(0)

    def translate(self, texts: Sequence[str], beam: int = 1) -> list[str]:
        """`["3rd of March, 1994", ...] -> ["1994-03-03", ...]`: greedy for beam=1, beam search for more."""
        return self.decode(list(texts), beam)[0]

    @torch.no_grad()
    def score(self, texts: Sequence[str], outputs: Sequence[str]) -> torch.Tensor:
        """log p(output | text) under the model, EOS included: the quantity greedy and beam search maximise."""
        was_training = self.training
        self.eval()
        try:
            src, lengths = encode(list(texts), self.src_vocab)
            tgt, _ = encode(list(outputs), self.tgt_vocab, bos=True, eos=True)
            logits, _ = self(src.to(self.device), lengths.to(self.device), tgt[:, :-1].to(self.device))
            log_probs = F.log_softmax(logits.float(), dim=-1).gather(-1, tgt[:, 1:, None].to(self.device))[..., 0]
            return log_probs.masked_fill(tgt[:, 1:].to(self.device) == PAD, 0.0).sum(dim=-1).cpu()
        finally:
            self.train(was_training)

    # training and evaluation
    def _eval_step(self, batch, stage: str) -> None:
        loss, logits, targets = self._loss(batch)
        self.log(f"{stage}/loss", loss, on_epoch=True, sync_dist=True)
        self.metrics[f"{stage}_token_acc"].update(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))
        src, src_lengths, tgt = batch
        tokens = self.greedy(src, src_lengths)[0]
        predictions = [decode(row, self.tgt_vocab) for row in tokens.tolist()]
        truths = [decode(row[1:], self.tgt_vocab) for row in tgt.tolist()]
        self.metrics[f"{stage}_exact_match"].update(torch.tensor([p == t for p, t in zip(predictions, truths)],
                                                                 dtype=torch.float, device=self.device))
        self.metrics[f"{stage}_bleu"].update([" ".join(p) for p in predictions], [[" ".join(t)] for t in truths])
        if stage == "test":
            sources = [decode(row, self.src_vocab) for row in src.tolist()]
            self._by_length += list(zip(sources, predictions, truths))

    def _eval_epoch_end(self, stage: str) -> None:
        for name in ("exact_match", "token_acc", "bleu"):
            metric = self.metrics[f"{stage}_{name}"]
            self.log(f"{stage}/{name}", metric.compute(), prog_bar=name == "exact_match")
            metric.reset()
        if self._by_length:
            sources, predictions, truths = zip(*self._by_length)
            for bucket, (rate, count) in exact_match_by_length(sources, predictions, truths,
                                                               self.hparams.length_buckets).items():
                if count:
                    self.log(f"{stage}/exact_match_len{bucket}", rate, sync_dist=True)
            self._by_length = []
        if not self.trainer.sanity_checking:
            self._save_attention(stage)

    def _save_attention(self, stage: str) -> None:
        """A heat map of the attention weights on the longest of the split's first 64 sources."""
        texts = getattr(self.trainer.datamodule, "texts", {}).get(stage)
        if not texts or not self.trainer.is_global_zero:
            return
        source = max(texts[0][:64], key=len)
        src, lengths = encode([source], self.src_vocab)
        tokens, _, weights = self.greedy(src.to(self.device), lengths.to(self.device))
        if weights is None:
            return
        output = decode(tokens[0].tolist(), self.tgt_vocab)
        rows = len(output) + (EOS in tokens[0].tolist())
        labels = list(output) + ["</s>"] * (rows - len(output))
        figure, axis = new_figure(figsize=(0.28 * len(source) + 1.5, 0.28 * rows + 1.2))
        axis.imshow(weights[0, :rows, :len(source)].float().cpu().numpy(), cmap="viridis", vmin=0, vmax=1,
                    aspect="auto")
        axis.set_xticks(range(len(source)), [char if char != " " else "␣" for char in source])
        axis.set_yticks(range(rows), labels)
        title = f"{stage} attention" + (f", epoch {self.current_epoch + 1}" if stage == "val" else "")
        axis.set(xlabel="source", ylabel="output", title=title)
        key = f"{stage}/attention"
        path = save_figure(figure, image_path(self.trainer, key))
        log_image(self.trainer, key, path, caption=f"{source} -> {output}")

    def configure_optimizers(self):
        return configure_optimizers(self, self.optimizer, self.scheduler)
