"""Checks of a composed config that Hydra cannot do: values that must be positive, and the like."""

from __future__ import annotations

from omegaconf import DictConfig, ListConfig, OmegaConf

from lab.errors import LabError

POSITIVE_KEYS = ("lr", "batch_size", "num_envs", "latent_dim", "hidden_size")


def _walk(node, prefix: str = ""):
    if isinstance(node, DictConfig):
        for key in node.keys():
            value = node._get_node(key)
            yield from _walk(value if isinstance(value, (DictConfig, ListConfig)) else node[key],
                             f"{prefix}.{key}" if prefix else str(key))
    elif isinstance(node, ListConfig):
        for i, value in enumerate(node):
            yield from _walk(value, f"{prefix}[{i}]")
    else:
        yield prefix, node


def check_config(cfg: DictConfig) -> None:
    """Raise a LabError for the first key in POSITIVE_KEYS whose value is not a positive number."""
    OmegaConf.resolve(cfg)
    for path, value in _walk(cfg):
        name = path.rsplit(".", 1)[-1]
        if name in POSITIVE_KEYS and isinstance(value, (int, float)) and not isinstance(value, bool) and value <= 0:
            raise LabError(f"{path} must be > 0, got {value}; set it on the command line, e.g. {path}=...")
