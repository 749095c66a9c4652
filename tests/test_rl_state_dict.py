"""Every RL module's checkpoint holds each parameter once; checkpoints that held a net twice still load."""

from __future__ import annotations

import pytest
import torch
from hydra.utils import instantiate

from lab.train import compose_config

MODULES = {  # experiment and overrides: every algorithm, discrete and continuous, dueling on and off, pixels
    "dqn": ["experiment=dqn_cartpole"],
    "dqn_dueling": ["experiment=dqn_cartpole", "model.dueling=true"],
    "dqn_dueling_tanh": ["experiment=dqn_cartpole", "model.dueling=true", "model.q_net.activation_name=tanh"],
    "dqn_nature_cnn": ["experiment=dqn_breakout"],
    "dqn_nature_cnn_dueling": ["experiment=dqn_breakout", "model.dueling=true"],
    "ppo_discrete": ["experiment=ppo_cartpole"],
    "ppo_continuous": ["experiment=ppo_pendulum"],
    "ppo_nature_torso": ["experiment=ppo_breakout"],
    "a2c": ["experiment=a2c_cartpole"],
    "reinforce": ["experiment=reinforce_cartpole"],
    "sac": ["experiment=sac_pendulum"],
    "td3": ["experiment=td3_pendulum"],
    "ddpg": ["experiment=ddpg_pendulum"],
}


def build(overrides: list[str]):
    torch.manual_seed(0)
    return instantiate(compose_config(overrides).model, _convert_="all")


@pytest.mark.parametrize("name", sorted(MODULES))
def test_no_two_state_dict_keys_share_storage(name):
    module = build(MODULES[name])
    state = module.state_dict(keep_vars=True)
    owners: dict[int, str] = {}
    shared = []
    for key, tensor in state.items():
        pointer = tensor.untyped_storage().data_ptr()
        if pointer in owners:
            shared.append((owners[pointer], key))
        owners.setdefault(pointer, key)
    assert not shared, f"{name}: keys sharing storage {shared[:3]}"
    assert not [key for key in state if key.startswith("_")], f"{name}: private attributes in the state dict"


def test_dueling_heads_take_the_width_of_the_nets_last_hidden_layer():
    module = build(["experiment=dqn_cartpole", "model.dueling=true", "model.q_net.hidden=[32,48]"])
    assert module.q.value.in_features == module.q.advantage.in_features == 48
    assert module.q(torch.zeros(5, 4)).shape == (5, 2)
    cnn = build(["experiment=dqn_breakout", "model.dueling=true", "model.q_net.hidden=[256]"])
    assert cnn.q.value.in_features == 256


def test_a_checkpoint_that_held_the_q_net_twice_still_loads():
    module = build(["experiment=dqn_cartpole", "model.dueling=true"])
    state = {key: value.clone() + 1 for key, value in module.state_dict().items()}
    doubled = dict(state, **{"_" + key: value for key, value in state.items()})  # `_q.*`, `_q_target.*` copies
    checkpoint = {"state_dict": doubled}
    module.on_load_checkpoint(checkpoint)
    module.load_state_dict(checkpoint["state_dict"])
    assert all(torch.equal(module.state_dict()[key], value) for key, value in state.items())
