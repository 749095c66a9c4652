"""optimizer=muon (lab/models/muon_adamw.py): which parameters Muon takes, one lr for both parts, the refusal of a
config it cannot split, checkpoint state, and a run that trains and resumes with it."""

from __future__ import annotations

import functools

import pytest
import torch
import torch.nn.functional as F

from lab.errors import LabError
from lab.models.muon_adamw import MuonAdamW
from lab.models.optim import build_optimizer
from lab.nets.transformer import CausalTransformer
from tests.test_transformer_lm import TINY


def transformer() -> CausalTransformer:
    torch.manual_seed(0)
    return CausalTransformer(40, dim=32, heads=4, num_layers=2, context=16)


def muon(net, **keywords) -> MuonAdamW:
    return build_optimizer(net, functools.partial(MuonAdamW, **{"lr": 0.01, "weight_decay": 0.1, **keywords}), net)


def ids(params) -> set[int]:
    return {id(p) for p in params}


def test_muon_takes_the_hidden_matrices_and_adamw_the_embeddings_biases_and_gains():
    net = transformer()
    opt = muon(net)
    hidden = [m.weight for block in net.blocks for m in (block.attn.qkv, block.attn.proj, block.fc, block.proj)]
    muon_params = [p for g in opt.muon.param_groups for p in g["params"]]
    adamw_params = [p for g in opt.adamw.param_groups for p in g["params"]]
    assert ids(muon_params) == ids(hidden)
    assert ids(adamw_params) == ids(net.parameters()) - ids(hidden)
    assert id(net.tokens.weight) in ids(adamw_params) and id(net.head.weight) == id(net.tokens.weight)
    assert len(muon_params) + len(adamw_params) == len(list(net.parameters()))
    assert all(g["weight_decay"] == 0.0 for g in opt.adamw.param_groups)


def test_a_scheduler_sets_the_lr_of_both_parts():
    opt = muon(transformer())
    torch.optim.lr_scheduler.LambdaLR(opt, lambda step: 0.5)
    assert [g["lr"] for g in opt.muon.param_groups + opt.adamw.param_groups] == [0.005, 0.005]
    assert opt.param_groups == opt.muon.param_groups + opt.adamw.param_groups


def test_without_weight_decay_muon_is_refused_naming_the_key():
    with pytest.raises(LabError, match=r"set model.optimizer.weight_decay > 0"):
        muon(transformer(), weight_decay=0.0)


def test_it_fits_a_batch_and_its_state_round_trips():
    net = transformer()
    opt = muon(net)
    tokens = torch.randint(0, 40, (8, 17), generator=torch.Generator().manual_seed(0))
    for _ in range(100):
        logits, _ = net(tokens[:, :-1])
        loss = F.cross_entropy(logits.reshape(-1, 40), tokens[:, 1:].reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.2  # from ln 40 = 3.7: a memorised batch
    again = muon(net)
    again.load_state_dict(opt.state_dict())
    qkv = net.blocks[0].attn.qkv.weight
    assert torch.equal(again.muon.state[qkv]["momentum_buffer"], opt.muon.state[qkv]["momentum_buffer"])
    assert torch.equal(again.adamw.state[net.tokens.weight]["exp_avg"], opt.adamw.state[net.tokens.weight]["exp_avg"])
    with pytest.raises(LabError, match="not saved by optimizer=muon"):
        again.load_state_dict(torch.optim.AdamW(net.parameters()).state_dict())


def test_a_char_lm_run_trains_with_muon_and_resumes_from_its_checkpoint(run_exp, one_thread, tmp_path):
    first = run_exp(TINY + ["optimizer@model.optimizer=muon", "test=false"])
    assert first["val/bpc"] < 6  # from about 8 bits (256 slots) after one short epoch
    last = tmp_path / "run" / "checkpoints" / "last.ckpt"
    resumed = run_exp(TINY + ["optimizer@model.optimizer=muon", "test=false", "trainer.max_epochs=2",
                              f"ckpt_path={last}"], subdir="resumed")
    assert resumed["trainer/global_step"] == 2 * first["trainer/global_step"]
    assert resumed["val/bpc"] < first["val/bpc"]
