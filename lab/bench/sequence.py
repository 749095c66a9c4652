"""Sequence models: training and sampling speed of the character language models at about the same size and the
validation bits per character each charlm_* experiment reaches; generation speed of the transformer with and
without its key/value cache beside the LSTM's; the lab's transformer against Hugging Face's GPT2LMHeadModel of the
same shape (bench extra: transformers)."""

from __future__ import annotations

import functools
import tempfile
import time
from pathlib import Path

import pytorch_lightning as pl
import torch
import torch.nn.functional as F

from lab.bench import table
from lab.train import compose_config, run_experiment

DOC = "benchmarks.md"
TITLE = "Sequence models (character LMs on the default corpus)"
EXPERIMENTS = ("charlm_rnn", "charlm_gru", "charlm_lstm", "charlm_transformer")
VOCAB, BATCH, SEQ = 96, 32, 128
NEW_TOKENS = 500
SAMPLE_LENGTH = 400


def _net(cfg, **overrides) -> torch.nn.Module:
    """The experiment's net at its default size (the same net its LanguageModel trains)."""
    from hydra.utils import instantiate

    return instantiate(cfg.model.net, vocab_size=VOCAB, _convert_="all", **overrides)


def _rates(tokens: int, calls: dict, repeats: int) -> dict[str, float]:
    """tokens / the fastest of `repeats` timed calls of each of `calls` (name -> function), after one untimed call
    each; the rounds interleave the calls, so a busy moment of the machine does not fall on one of them alone."""
    best = {name: float("inf") for name in calls}
    for call in calls.values():
        call()
    for _ in range(repeats):
        for name, call in calls.items():
            start = time.perf_counter()
            call()
            best[name] = min(best[name], time.perf_counter() - start)
    return {name: tokens / seconds for name, seconds in best.items()}


def _train_steps(net: torch.nn.Module, steps: int, batch: int, length: int):
    """A function that runs `steps` forward + backward + Adam steps of `net` on fixed random (batch, length)
    windows."""
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)
    tokens = torch.randint(0, VOCAB, (batch, length + 1), generator=torch.Generator().manual_seed(0))
    net.train()

    def run_steps():
        for _ in range(steps):
            logits, _ = net(tokens[:, :-1])
            loss = F.cross_entropy(logits.reshape(-1, VOCAB), tokens[:, 1:].reshape(-1))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()

    return run_steps


def train_tokens_per_second(net: torch.nn.Module, steps: int, batch: int = BATCH, length: int = SEQ) -> float:
    """Training tokens/s over `steps` steps on random (batch, length) windows, after as many untimed ones."""
    return _rates(steps * batch * length, {"net": _train_steps(net, steps, batch, length)}, 1)["net"]


@torch.no_grad()
def sample_tokens_per_second(net: torch.nn.Module, length: int) -> float:
    """One sequence, one token per call, carrying the net's state (an RNN's hidden state, a transformer's cache)."""
    net.eval()
    token, state = torch.zeros(1, 1, dtype=torch.long), None
    start = time.perf_counter()
    for _ in range(length):
        logits, state = net(token, state)
        token = logits[:, -1:].argmax(-1)
    return length / (time.perf_counter() - start)


class BestBpc(pl.Callback):
    """Keeps the lowest val/bpc of a run (class-level, since Hydra builds the callback)."""

    best = float("inf")

    def on_fit_start(self, trainer, pl_module) -> None:
        BestBpc.best = float("inf")

    def on_validation_end(self, trainer, pl_module) -> None:  # after the module's epoch-end logging
        bpc = trainer.callback_metrics.get("val/bpc")
        if bpc is not None:
            BestBpc.best = min(BestBpc.best, float(bpc))


def final_bpc(experiment: str, overrides: list[str]) -> tuple[float, float, float, str]:
    """(best val bits/char, last val bits/char, fit seconds, a sample) of one run of `experiment`; the sample is
    SAMPLE_LENGTH characters from the run's best checkpoint after its `sample_prompt`, as `lab-generate` draws them
    with its defaults (temperature 0.8, seed 0)."""
    from lab.commands.generate import generate

    with tempfile.TemporaryDirectory() as out:
        metrics = run_experiment([f"experiment={experiment}", "logger=none", "~callbacks.progress_bar",
                                  "trainer.enable_progress_bar=false", "model.sample_length=100",
                                  f"+callbacks.best_bpc._target_={BestBpc.__module__}.BestBpc"] + overrides, out)
        best = sorted(Path(out, "checkpoints").glob("best-*.ckpt")) or [Path(out, "checkpoints", "last.ckpt")]
        sample = generate([f"ckpt={best[-1]}", f"length={SAMPLE_LENGTH}"])
    return BestBpc.best, metrics["val/bpc"], metrics["time/fit_seconds"], sample


def experiments_table(quick: bool) -> str:
    """Quick: 1 epoch of 10 batches each. Full: every experiment as shipped (its own max_epochs)."""
    steps, length = (3, 50) if quick else (10, 300)
    overrides = ["trainer.max_epochs=1", "trainer.limit_train_batches=10"] if quick else []
    rows, samples = [], {}
    for experiment in EXPERIMENTS:
        cfg = compose_config([f"experiment={experiment}"])
        torch.manual_seed(0)
        net = _net(cfg)
        params = sum(p.numel() for p in net.parameters())
        epochs = 1 if quick else int(cfg.trainer.max_epochs)
        best, last, seconds, samples[experiment] = final_bpc(experiment, overrides)
        rows.append([experiment, f"{params:,}", train_tokens_per_second(net, steps),
                     sample_tokens_per_second(net, length), epochs, best, last, seconds])
    caption = ("" if quick else "Each experiment as shipped; their epochs are set so that the four fits take about "
               "the same time on the 2-core CPU (fit seconds). Bits/char on the validation books, in windows of the "
               "experiment's `data.seq_len` (128 for all four). Train tokens/s: the net alone on random windows; "
               "sampling tokens/s: one sequence, one token per call.\n\n")
    winner = min(rows, key=lambda row: row[5])
    fence = "`" * 3
    return (caption + table(["experiment", "parameters", f"train tokens/s (batch {BATCH}x{SEQ})",
                             "sampling tokens/s", "epochs" + (" (10 batches, quick)" if quick else ""),
                             "best val bits/char", "last val bits/char", "fit seconds"], rows)
            + f"\n\n{SAMPLE_LENGTH} characters from {winner[0]}, the lowest best val bits/char ({winner[5]:.2f}), "
              f"drawn from its best checkpoint as `lab-generate ckpt=... length={SAMPLE_LENGTH}` draws them "
              f"(temperature 0.8, seed 0):\n\n{fence}text\n{samples[winner[0]].replace(fence, '')}\n{fence}")


def _language_model(net: torch.nn.Module):
    """`net` inside the lab's LanguageModel with a 96-character vocabulary, for its `generate`."""
    from lab.models.language_model import LanguageModel

    module = LanguageModel(net, vocab_size=VOCAB, optimizer=torch.optim.AdamW)
    module.set_vocab("".join(chr(c) for c in range(32, 32 + VOCAB)))
    return module.eval()


def generation_table(quick: bool) -> str:
    """`LanguageModel.generate` (greedy) of NEW_TOKENS characters after a 1-character prompt: the transformer of
    charlm_transformer with its cache and recomputing its window, and the LSTM of charlm_lstm. The transformer's
    context is NEW_TOKENS + 12 positions, as in `huggingface_table`, so every new token attends to all before it
    and the cache is never cropped."""
    repeats = 2 if quick else 5
    transformer_cfg = compose_config(["experiment=charlm_transformer"])
    torch.manual_seed(0)
    transformer = _language_model(_net(transformer_cfg, context=NEW_TOKENS + 12))
    torch.manual_seed(0)
    lstm = _language_model(_net(compose_config(["experiment=charlm_lstm"])))
    context = transformer.net.context
    runs = [("charlm_transformer, key/value cache", transformer, True),
            ("charlm_transformer, recompute the window", transformer, False),
            ("charlm_lstm, hidden state", lstm, True)]
    rates = _rates(NEW_TOKENS, {name: functools.partial(module.generate, " ", NEW_TOKENS, 0.0, cache=cache)
                                for name, module, cache in runs}, repeats)
    cached, recomputed = rates[runs[0][0]], rates[runs[1][0]]
    rows = [[name, f"{sum(p.numel() for p in module.parameters()):,}", rate, rate / recomputed]
            for (name, module, _), rate in zip(runs, rates.values())]
    return (table(["net", "parameters", f"generation tokens/s ({NEW_TOKENS} new, greedy)", "x recompute"], rows)
            + f"\n\ncharlm_transformer's net with a {context}-position context (as in the comparison with "
              f"transformers below), so all {NEW_TOKENS} new tokens stay in the window and each attends to every "
              f"token before it; recomputing, each new token reruns the whole window so far. "
              f"Cache / recompute: {cached / recomputed:.1f}x.")


def _gpt2_pair(cfg, context: int):
    """The lab's transformer of `cfg` and a GPT2LMHeadModel of the same width, depth, heads, context, vocabulary and
    dropout, both with GPT-2's tanh GELU, tied embeddings and scaled-dot-product attention, seeded alike."""
    from transformers import GPT2Config, GPT2LMHeadModel

    net = cfg.model.net
    torch.manual_seed(0)
    lab_net = _net(cfg, context=context)
    config = GPT2Config(vocab_size=VOCAB, n_positions=context, n_embd=net.dim, n_layer=net.num_layers,
                        n_head=net.heads, resid_pdrop=net.dropout, embd_pdrop=net.dropout, attn_pdrop=net.dropout,
                        bos_token_id=None, eos_token_id=None, pad_token_id=None, attn_implementation="sdpa")
    torch.manual_seed(0)
    return lab_net, GPT2LMHeadModel(config)


class _Wrapped(torch.nn.Module):
    """A GPT2LMHeadModel behind the lab's `forward(tokens) -> (logits, state)`, for the same training loop."""

    def __init__(self, model) -> None:
        super().__init__()
        self.model = model

    def forward(self, tokens, state=None):
        return self.model(input_ids=tokens, use_cache=False).logits, None


def huggingface_table(quick: bool) -> str:
    """Training tokens/s (forward + backward + Adam on random windows of the experiment's batch and length) and
    greedy generation of NEW_TOKENS tokens with each library's cache: the lab's `LanguageModel.generate` against
    `GPT2LMHeadModel.generate(use_cache=True, do_sample=False)`. The context is NEW_TOKENS + 12 positions, so
    neither model reaches its end."""
    try:
        import transformers
    except ImportError:
        return "transformers is not installed (`pip install -c constraints.txt -e '.[bench]'`): no comparison."
    cfg = compose_config(["experiment=charlm_transformer"])
    batch, length = int(cfg.data.batch_size), int(cfg.data.seq_len)
    context = NEW_TOKENS + 12
    lab_net, hf = _gpt2_pair(cfg, context)
    steps, repeats = (2, 2) if quick else (5, 3)
    train = list(_rates(steps * batch * length, {"lab": _train_steps(lab_net, steps, batch, length),
                                                 "hf": _train_steps(_Wrapped(hf), steps, batch, length)},
                        repeats).values())
    lab = _language_model(lab_net)
    hf.eval()
    prompt = torch.zeros(1, 1, dtype=torch.long)

    def hf_generate():
        with torch.inference_mode():
            out = hf.generate(prompt, attention_mask=torch.ones_like(prompt), max_new_tokens=NEW_TOKENS,
                              do_sample=False, use_cache=True)
        assert out.shape[1] == 1 + NEW_TOKENS

    generate = list(_rates(NEW_TOKENS, {"lab": lambda: lab.generate(" ", NEW_TOKENS, 0.0), "hf": hf_generate},
                           repeats).values())
    params = [sum(p.numel() for p in m.parameters()) for m in (lab_net, hf)]
    rows = [["lab CausalTransformer", f"{params[0]:,}", train[0], generate[0]],
            [f"transformers {transformers.__version__} GPT2LMHeadModel", f"{params[1]:,}", train[1], generate[1]],
            ["lab / transformers", "", train[0] / train[1], generate[0] / generate[1]]]
    return (table(["model", "parameters", f"train tokens/s (batch {batch}x{length})",
                   f"generation tokens/s ({NEW_TOKENS} new, greedy, cache)"], rows)
            + f"\n\n{int(cfg.model.net.num_layers)} layers, {int(cfg.model.net.heads)} heads, "
              f"{int(cfg.model.net.dim)} wide, context {context}, vocabulary {VOCAB}, dropout "
              f"{float(cfg.model.net.dropout)} in training.")


def run(quick: bool = False) -> dict[str, str]:
    return {"sequence": experiments_table(quick), "sequence/generation": generation_table(quick),
            "sequence/transformers": huggingface_table(quick)}
