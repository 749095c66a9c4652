"""The GPT-style transformer LM: GPT-2 initialisation, tied embeddings, no-bias option, KV-cache generation equal to
recomputation across the context boundary, test bits/char, lab-generate's greedy and cache switches, torch.compile."""

from __future__ import annotations

import functools
import math

import pytest
import torch

from lab.commands.generate import generate
from lab.errors import LabError
from lab.models.language_model import LanguageModel
from lab.nets.rnn import RecurrentLM
from lab.nets.transformer import CausalTransformer
from lab.run.checkpoint import load_module, read_checkpoint

VOCAB = "abcdefghijklmnopqrstuvwxyz .,;:!?'-ABCDE"  # 40 characters


def varied_net(context: int = 16) -> CausalTransformer:
    """A small net whose greedy continuation does not repeat one token: at initialisation the tied embedding makes
    every position predict its own input, so the matrices other than the token embedding are drawn wider."""
    torch.manual_seed(0)
    net = CausalTransformer(len(VOCAB), dim=32, heads=4, num_layers=2, context=context).eval()
    with torch.no_grad():
        for name, p in net.named_parameters():
            if p.ndim == 2 and not name.startswith("tokens"):
                p.normal_(0, 0.3)
    return net


def greedy(net, prompt: torch.Tensor, steps: int, cache: bool):
    """The greedy tokens and the logits each was chosen from."""
    chosen, seen = [], []
    with torch.no_grad():
        logits, state = net(prompt, None, cache=cache)
        for _ in range(steps):
            seen.append(logits[0, -1])
            token = logits[:, -1:].argmax(-1)
            chosen.append(token.item())
            logits, state = net(token, state)
    return chosen, torch.stack(seen), state


def test_input_and_output_embeddings_are_one_tensor():
    net = CausalTransformer(40, dim=32, heads=4, num_layers=2, context=16)
    assert net.head.weight is net.tokens.weight
    with torch.no_grad():
        net.tokens.weight[3, 0] = 7.0
    assert net.head.weight[3, 0].item() == 7.0
    unique = sum(p.numel() for p in net.parameters())
    listed = sum(t.numel() for t in net.state_dict().values())
    assert listed - unique == 40 * 32  # the state dict names the shared tensor twice, the parameters once


def test_gpt2_initialisation_scales_the_residual_projections():
    torch.manual_seed(0)
    layers = 8
    net = CausalTransformer(256, dim=256, heads=4, num_layers=layers, context=64)
    residual = 0.02 / math.sqrt(2 * layers)
    for block in net.blocks:
        assert block.attn.proj.weight.std().item() == pytest.approx(residual, rel=0.05)
        assert block.proj.weight.std().item() == pytest.approx(residual, rel=0.05)
        assert block.attn.qkv.weight.std().item() == pytest.approx(0.02, rel=0.05)
        assert block.fc.weight.std().item() == pytest.approx(0.02, rel=0.05)
        assert block.fc.bias.abs().max().item() == 0.0
    assert net.tokens.weight.std().item() == pytest.approx(0.02, rel=0.05)
    assert net.positions.weight.std().item() == pytest.approx(0.02, rel=0.05)


def test_bias_false_drops_every_bias():
    with_bias = CausalTransformer(40, dim=32, heads=4, num_layers=2, context=16)
    without = CausalTransformer(40, dim=32, heads=4, num_layers=2, context=16, bias=False)
    assert [n for n, _ in without.named_parameters() if n.endswith("bias")] == []
    assert len([n for n, _ in with_bias.named_parameters() if n.endswith("bias")]) == 2 * 6 + 1
    logits, _ = without(torch.zeros(2, 5, dtype=torch.long))
    assert logits.shape == (2, 5, 40)


def test_cache_holds_keys_and_values_per_layer():
    net = varied_net(context=16)
    _, _, state = greedy(net, torch.tensor([[1, 2, 3]]), 5, cache=True)
    assert state.position == 8 and state.tokens.shape == (1, 8)
    assert len(state.keys) == len(state.values) == 2
    assert all(k.shape[:2] == (1, 4) and k.shape[2] >= 8 and k.shape[3] == 8 for k in state.keys)
    _, _, plain = greedy(net, torch.tensor([[1, 2, 3]]), 5, cache=False)
    assert plain.keys is None and torch.equal(plain.tokens, state.tokens)


def test_greedy_with_and_without_cache_agree_beyond_the_context():
    net = varied_net(context=16)
    prompt = torch.tensor([[1, 2, 3, 4, 5]])
    cached, cached_logits, state = greedy(net, prompt, 60, cache=True)
    recomputed, recomputed_logits, _ = greedy(net, prompt, 60, cache=False)
    assert len(set(cached)) >= 5  # a varied continuation, not one token repeated
    assert state.position <= 16  # 65 tokens through a 16-token window: it has been cropped
    assert cached == recomputed
    torch.testing.assert_close(cached_logits, recomputed_logits, atol=1e-4, rtol=0)


def test_a_prompt_longer_than_the_context_keeps_its_last_tokens():
    net = varied_net(context=16)
    prompt = torch.randint(0, 40, (1, 40), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        logits, state = net(prompt)
        alone, _ = net(prompt[:, -16:])
    assert state.position == 16 and logits.shape == (1, 16, 40)
    torch.testing.assert_close(logits, alone)


def language_model(net) -> LanguageModel:
    module = LanguageModel(net, vocab_size=len(VOCAB), optimizer=functools.partial(torch.optim.AdamW))
    module.set_vocab(VOCAB)
    return module


def test_generate_text_is_the_same_with_and_without_the_cache():
    module = language_model(varied_net(context=16))
    cached = module.generate("abc", 60, temperature=0.0)
    recomputed = module.generate("abc", 60, temperature=0.0, cache=False)
    assert len(cached) == 63 and cached == recomputed
    sampled = [module.generate("abc", 60, 1.0, 5, torch.Generator().manual_seed(1), cache=c) for c in (True, False)]
    assert sampled[0] == sampled[1]


def test_cache_false_on_a_recurrent_net_is_refused():
    module = language_model(RecurrentLM(len(VOCAB), 8, 16))
    with pytest.raises(LabError, match="cache=false applies to attention language models; this RecurrentLM"):
        module.generate("abc", 5, cache=False)


# importing torch's inductor warns from inside torch (torch/utils/mkldnn.py)
INDUCTOR_IMPORT = pytest.mark.filterwarnings("ignore:`torch.jit.script_method` is deprecated:DeprecationWarning")


@INDUCTOR_IMPORT
def test_compile_keeps_the_state_dict_keys():
    plain = language_model(CausalTransformer(40, dim=32, heads=4, num_layers=2, context=16))
    compiled = LanguageModel(CausalTransformer(40, dim=32, heads=4, num_layers=2, context=16), vocab_size=40,
                             optimizer=functools.partial(torch.optim.AdamW), compile=True)
    assert list(compiled.state_dict()) == list(plain.state_dict())
    compiled.load_state_dict(plain.state_dict())


TINY = ["experiment=charlm_transformer", "model.net.dim=32", "model.net.num_layers=2", "data.seq_len=32",
        "data.batch_size=8", "data.windows_per_epoch=32", "data.eval_batch_size=64", "trainer.max_epochs=1",
        "trainer.limit_val_batches=2", "trainer.limit_test_batches=2", "model.sample_length=20"]


def test_a_short_run_reports_test_bits_per_character_and_its_parameter_count(run_exp, one_thread, capsys):
    metrics = run_exp(TINY + ["test=true"])
    assert metrics["test/bpc"] == pytest.approx(math.log2(metrics["test/ppl"]), rel=1e-4)
    assert 0 < metrics["test/bpc"] < 8 and metrics["test/loss"] > 0
    count = sum(p.numel() for p in CausalTransformer(256, dim=32, heads=4, num_layers=2, context=32).parameters())
    assert capsys.readouterr().out.count(f"CausalTransformer: {count:,} parameters") == 1


def test_lab_generate_greedy_is_the_same_with_and_without_the_cache(run_exp, one_thread, tmp_path):
    run_exp(TINY + ["test=false"])
    ckpt = f"ckpt={tmp_path / 'run' / 'checkpoints' / 'last.ckpt'}"
    cached = generate([ckpt, "prompt=And ", "length=80", "greedy=true"])  # 84 characters through a 32 window
    recomputed = generate([ckpt, "prompt=And ", "length=80", "greedy=true", "cache=false"])
    assert len(cached) == 84 and cached.startswith("And ") and cached == recomputed
    with pytest.raises(LabError, match="cache must be true or false, got 'maybe'"):
        generate([ckpt, "cache=maybe"])


@pytest.mark.slow
@INDUCTOR_IMPORT
def test_a_compiled_run_writes_a_checkpoint_an_uncompiled_model_loads(run_exp, one_thread, tmp_path):
    run_exp(TINY + ["model.compile=true", "test=false"])  # about a minute and a half of compiling on 1 CPU thread
    path = tmp_path / "run" / "checkpoints" / "last.ckpt"
    keys = set(read_checkpoint(path)["state_dict"])
    assert "net.blocks.0.attn.qkv.weight" in keys and not any("_orig_mod" in key for key in keys)
    module, _ = load_module(path)
    assert module.generate("And ", 10, 0.0) == module.generate("And ", 10, 0.0, cache=False)
