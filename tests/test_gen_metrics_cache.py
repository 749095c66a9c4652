"""The metric classifier is trained once per data set and cached in $LAB_CACHE; a changed data set gets its own."""

import pytest
import torch
from torch.utils.data import TensorDataset

import lab.models.gen_metrics as gen_metrics


@pytest.fixture
def counted_training(tmp_path, monkeypatch):
    """LAB_CACHE in tmp_path; the list records every classifier training."""
    monkeypatch.setenv("LAB_CACHE", str(tmp_path / "cache"))
    calls, train = [], gen_metrics.train_classifier

    def counting(*args, **kwargs):
        calls.append(args)
        return train(*args, **kwargs)

    monkeypatch.setattr(gen_metrics, "train_classifier", counting)
    return calls


def _digits(n: int = 256) -> TensorDataset:
    from lab.data.embedded import MNIST5kDataModule

    data = MNIST5kDataModule(seed=0)
    data.setup("fit")
    x, y = data.load()["train"]
    return TensorDataset(x[:n], y[:n])


def test_the_classifier_is_trained_once_and_a_changed_data_set_gets_a_new_one(counted_training, tmp_path):
    data = _digits()
    net, path, trained = gen_metrics.cached_classifier(data, (1, 28, 28), 10, epochs=1)
    assert trained and len(counted_training) == 1
    assert path.parent == tmp_path / "cache" / "metric_classifiers" and path.is_file()

    again, same_path, trained = gen_metrics.cached_classifier(data, (1, 28, 28), 10, epochs=1)
    assert not trained and len(counted_training) == 1 and same_path == path
    assert all(torch.equal(a, b) for a, b in zip(net.state_dict().values(), again.state_dict().values()))

    x, y = data.tensors
    changed = TensorDataset(x, torch.cat([(y[:1] + 1) % 10, y[1:]]))  # one label differs
    _, other_path, trained = gen_metrics.cached_classifier(changed, (1, 28, 28), 10, epochs=1)
    assert trained and len(counted_training) == 2 and other_path != path

    _, longer_path, trained = gen_metrics.cached_classifier(data, (1, 28, 28), 10, epochs=2)  # other settings
    assert trained and longer_path not in (path, other_path)


def test_a_second_run_reuses_the_cached_classifier_and_scores_in_the_same_features(counted_training, run_exp):
    short = ["experiment=vae_mnist5k", "trainer.max_epochs=1", "+trainer.limit_train_batches=2",
             "+trainer.limit_val_batches=1", "test=false"]
    first = run_exp(short, subdir="first")
    second = run_exp(short, subdir="second")
    assert len(counted_training) == 1
    assert second["val/fd"] == pytest.approx(first["val/fd"], rel=1e-4)  # same seed, same features
