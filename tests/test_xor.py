"""XOR: a hidden ReLU layer learns it; a linear model cannot (at most 3 of the 4 points)."""

import pytest


def test_mlp_with_relu_hidden_layer_learns_xor(run_exp):
    metrics = run_exp(["experiment=xor_mlp", "model.net.activation_name=relu"])
    assert metrics["test/acc"] == 1.0


def test_linear_model_cannot_learn_xor(run_exp):
    metrics = run_exp(["experiment=xor_mlp", "model.net.hidden=[]"])
    assert metrics["test/acc"] <= 0.75


@pytest.mark.parametrize("activation", ["sigmoid", "tanh", "hard-sigmoid", "leaky-relu", "prelu", "swish"])
def test_every_activation_builds_and_trains(run_exp, activation):
    metrics = run_exp(["experiment=xor_mlp", f"model.net.activation_name={activation}", "trainer.max_epochs=2"])
    assert 0.0 <= metrics["test/acc"] <= 1.0 and metrics["trainer/global_step"] == 2 * 16
