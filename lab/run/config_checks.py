"""Checks of a composed config that Hydra cannot do: values that must be positive, and the like."""

from __future__ import annotations

from omegaconf import DictConfig, ListConfig, OmegaConf

from lab.errors import LabError

POSITIVE_KEYS = ("lr", "batch_size", "num_envs", "latent_dim", "hidden_size", "reference_batch")
SCALE_LR = ("linear",)  # the rules of model.optimizer.scale_lr besides null (lab/models/optim.py applies them)


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
    check_scale_lr(OmegaConf.select(cfg, "model.optimizer.scale_lr", default=None),
                   OmegaConf.select(cfg, "model.optimizer.reference_batch", default=None))


def check_scale_lr(rule, reference) -> None:
    """Raise the LabError for a `model.optimizer.scale_lr` that is not a known rule, or one without the batch the lr
    was chosen for."""
    if rule is not None and rule not in SCALE_LR:
        raise LabError(f"model.optimizer.scale_lr={rule!r} is not a rule; choose one of: "
                       f"{', '.join(SCALE_LR)}, null (no scaling)")
    if rule is not None and not (isinstance(reference, int) and reference > 0):
        raise LabError(f"model.optimizer.scale_lr={rule} needs model.optimizer.reference_batch=N, the global batch "
                       f"the lr was chosen for (got {reference})")


def _is_group(name: str) -> bool:
    from lab.run.resources import CONF_DIR

    return (CONF_DIR / name).is_dir() or name.startswith("hydra/")


def _leaf_keys(node, prefix: str = "") -> list[str]:
    keys = []
    if isinstance(node, DictConfig):
        for key in node.keys():
            path = f"{prefix}.{key}" if prefix else str(key)
            keys.append(path)
            keys += _leaf_keys(node._get_node(key), path)
    return keys


def closest_keys(key: str, known: list[str], n: int = 3) -> list[str]:
    """The existing keys nearest to a misspelt one: same last name or close to it, under the same parent first."""
    import difflib

    known = [k for k in known if not key.startswith(k + ".")  # its parents exist; they are no suggestion
             and not k.rsplit(".", 1)[-1].startswith("_")]  # nor are Hydra's _target_, _partial_
    leaf = key.rsplit(".", 1)[-1]
    names = {k.rsplit(".", 1)[-1] for k in known}
    near_names = set(difflib.get_close_matches(leaf, names, n=5, cutoff=0.6))
    by_name = [k for k in known if k.rsplit(".", 1)[-1] in near_names]
    by_name.sort(key=lambda k: -difflib.SequenceMatcher(None, key, k).ratio())
    if by_name:
        return by_name[:n]
    return difflib.get_close_matches(key, known, n=n, cutoff=0.75)


def _group_options(group_dir) -> list[str]:
    return sorted(str(p.relative_to(group_dir).with_suffix("")) for p in group_dir.rglob("*.yaml"))


def closest_options(value: str, options: list[str], n: int = 5) -> list[str]:
    """The options nearest to a misspelt one: those that contain it (`ppo` -> ppo_*), then the closest spellings."""
    import difflib

    containing = [o for o in options if len(value) >= 3 and value in o]
    near = difflib.get_close_matches(value, options, n=n, cutoff=0.6)
    return list(dict.fromkeys(containing + near))[:n]


def check_group_options(groups) -> None:
    """Raise a LabError naming the closest options for `group=option` when conf/<group>/<option>.yaml does not
    exist (Hydra's own answer is a traceback and the whole listing)."""
    from lab.run.resources import CONF_DIR

    for override in groups:
        group, value = override.key_or_group, override.value()
        group_dir = CONF_DIR / group
        if value is None and group_dir.is_dir() and not override.is_delete():
            raise LabError(f"{group} is a config group: choose one of {', '.join(_group_options(group_dir))}")
        if group.startswith("hydra") or override.is_delete() or not isinstance(value, str) or not group_dir.is_dir():
            continue
        if (group_dir / f"{value}.yaml").is_file():
            continue
        options = _group_options(group_dir)
        near = closest_options(value, options)
        if near:
            hint = f"did you mean {' or '.join(near)}?"
        elif len(options) <= 12:
            hint = f"choose from {', '.join(options)}"
        else:
            hint = f"none is close; `lab-train --help` lists all {len(options)}"
        raise LabError(f"unknown {group} {value!r} (no conf/{group}/{value}.yaml); {hint}")


def _has_key(tree, dotted: str) -> bool:
    """Whether the nested dicts/lists `tree` hold the key path `dotted` (list items by index)."""
    for part in dotted.split("."):
        if isinstance(tree, dict) and part in tree:
            tree = tree[part]
        elif isinstance(tree, list) and part.isdigit() and int(part) < len(tree):
            tree = tree[int(part)]
        else:
            return False
    return True


def check_overrides(overrides: list[str]) -> None:
    """Raise a LabError for a `group=option` whose option does not exist, or a `key=value` override whose key is not
    in the composed config, naming the closest existing ones. Hydra's own hint for a key (`+key=...`) would add the
    key and fail later with a TypeError."""
    from hydra import compose, initialize_config_dir
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException

    from lab.run.resources import CONF_DIR

    try:
        parsed = OverridesParser.create().parse_overrides([o for o in overrides if "=" in o or o.startswith("~")])
    except HydraException:
        return  # a syntax error: Hydra's own message is the right one
    groups = [o for o in parsed if _is_group(o.key_or_group) or o.package is not None]
    check_group_options([o for o in groups if not o.is_sweep_override()])
    if any(o.is_sweep_override() for o in groups):
        return
    keys = [o for o in parsed if o not in groups and not o.is_add() and not o.is_force_add()
            and not o.key_or_group.startswith("hydra.")]
    if not keys:
        return
    try:
        with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
            cfg = compose(config_name="train", overrides=[o.input_line for o in groups])
    except HydraException:
        return  # a config that does not compose: Hydra's own message names the file
    tree = OmegaConf.to_container(cfg, resolve=False)  # a key whose value interpolates Hydra's runtime still exists
    for override in keys:
        if not _has_key(tree, override.key_or_group):
            near = closest_keys(override.key_or_group, [k for k in _leaf_keys(cfg) if not k.startswith("hydra")])
            hint = f"did you mean {' or '.join(near)}? " if near else ""
            raise LabError(f"unknown config key {override.key_or_group!r}; {hint}"
                           "(`lab-train --cfg job` prints every key of the composed config)")
