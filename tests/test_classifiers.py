"""The classifier families reach their accuracy on embedded digits (convergence: marked slow)."""

import pytest

pytestmark = pytest.mark.slow


def test_lenet_mnist5k_reaches_95_percent(run_exp, tmp_path):
    metrics = run_exp(["experiment=lenet_mnist5k"])
    assert metrics["test/acc"] >= 0.95
    images = sorted(p.name for p in (tmp_path / "run" / "images").iterdir())
    assert any(name.startswith("test_confusion_matrix") for name in images)
    assert any(name.startswith("test_misclassified") for name in images)


def test_digits_mlp_reaches_95_percent(run_exp):
    assert run_exp(["experiment=digits_mlp"])["test/acc"] >= 0.95


@pytest.mark.parametrize("experiment", ["resnet_mnist5k", "densenet_mnist5k"])
@pytest.mark.parametrize("batch_norm", [True, False])
def test_residual_and_dense_nets_beat_90_percent(run_exp, experiment, batch_norm):
    metrics = run_exp([f"experiment={experiment}", f"model.net.batch_norm={batch_norm}", "trainer.max_epochs=3"])
    assert metrics["test/acc"] > 0.90
