"""Reads a sweep file (W&B sweep format) and checks it before any trial starts.

A sweep file is plain YAML, read as W&B reads it (not by Hydra: `${args_no_hyphens}` is a W&B macro):

    program: scripts/train.py
    method: grid                      # grid | random | bayes
    metric: {name: val/acc, goal: maximize}
    parameters:
      model.net.activation_name: {values: [relu, tanh]}
    command: [${env}, ${interpreter}, ${program}, experiment=digits_mlp, ${args_no_hyphens}]

Fixed Hydra overrides go in `command`; the swept keys are Hydra override keys.
"""

from __future__ import annotations

import random
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from lab.errors import LabError
from lab.run.resources import CONF_DIR, LAB_TRAIN_PROGRAMS

SWEEP_DIR = CONF_DIR / "sweep"
METHODS = ("grid", "random", "bayes")
GOALS = ("minimize", "maximize")
ARGS_MACRO = "${args_no_hyphens}"
KNOWN_MACROS = ("${env}", "${interpreter}", "${program}", ARGS_MACRO)


@dataclass
class SweepSpec:
    """A checked sweep: the W&B config as written, plus what the local driver needs from it."""

    name: str
    config: dict[str, Any]
    program: str
    fixed: list[str] = field(default_factory=list)
    source: str = ""

    @property
    def method(self) -> str:
        return self.config["method"]

    @property
    def metric(self) -> str:
        return self.config["metric"]["name"]

    @property
    def goal(self) -> str:
        return self.config["metric"].get("goal", "minimize")

    @property
    def parameters(self) -> dict[str, Any]:
        return self.config["parameters"]


def sweep_path(name: str) -> Path:
    """`NAME` -> conf/sweep/NAME.yaml; a path to a .yaml file is taken as is."""
    path = Path(name)
    if path.suffix in (".yaml", ".yml") and path.exists():
        return path
    path = SWEEP_DIR / f"{name}.yaml"
    if not path.exists():
        known = ", ".join(sorted(p.stem for p in SWEEP_DIR.glob("*.yaml")))
        raise LabError(f"no sweep named {name!r} (looked for {path}); known sweeps: {known}")
    return path


def seed_search(seed: int) -> None:
    """The `sweeps` engine draws from Python's and NumPy's global generators: seed both."""
    random.seed(seed)
    np.random.seed(seed)


def _check_shape(config: dict, where: str) -> None:
    method = config.get("method")
    if method not in METHODS:
        raise LabError(f"{where}: unknown sweep method {method!r}; use one of {', '.join(METHODS)}")
    metric = config.get("metric")
    if not isinstance(metric, dict) or not metric.get("name"):
        raise LabError(f"{where}: the sweep needs `metric: {{name: <logged metric, e.g. val/acc>, goal: minimize|maximize}}`")
    if metric.get("goal", "minimize") not in GOALS:
        raise LabError(f"{where}: metric.goal is {metric.get('goal')!r}; use minimize or maximize")
    params = config.get("parameters")
    if not isinstance(params, dict) or not params:
        raise LabError(f"{where}: the sweep needs `parameters:` with at least one Hydra key to vary")
    for key, spec in params.items():
        if not isinstance(spec, dict) or "parameters" in spec:
            raise LabError(f"{where}: parameter {key!r} must be a W&B parameter spec such as "
                           "{values: [...]}, {value: x} or {min: a, max: b} (nested parameters are not supported)")
        if method == "grid" and not ("values" in spec or "value" in spec):
            raise LabError(f"{where}: grid search needs a list of `values` for {key!r} (got {spec})")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pydantic 2 renamed a config key the package still uses
        from sweeps import SweepConfig

        try:
            SweepConfig({k: v for k, v in config.items() if k != "run_cap"})  # run_cap: newer than sweeps 0.2
        except Exception as error:  # jsonschema.ValidationError: report its message only
            raise LabError(f"{where}: not a valid W&B sweep config: {getattr(error, 'message', error)}") from None


def _split_command(config: dict, where: str) -> tuple[str, list[str]]:
    program = config.get("program", "scripts/train.py")
    command = config.get("command") or ["${env}", "${interpreter}", "${program}", ARGS_MACRO]
    if ARGS_MACRO not in command:
        hint = " (`${args}` passes --key=value, which Hydra does not read)" if "${args}" in command else ""
        raise LabError(f"{where}: `command` must contain {ARGS_MACRO} so the swept values reach Hydra as key=value{hint}")
    fixed = []
    for word in command:
        word = str(word)
        if word.startswith("${"):
            if word not in KNOWN_MACROS:
                raise LabError(f"{where}: command macro {word} is not supported here; use {', '.join(KNOWN_MACROS)}")
            continue
        fixed.append(word)
    if program not in LAB_TRAIN_PROGRAMS and not Path(program).exists():
        raise LabError(f"{where}: program {program!r} does not exist; use scripts/train.py (the lab's train entry, "
                       "run as `python -m lab.train`) or a path relative to the current directory")
    return program, fixed


def load_spec(name: str) -> SweepSpec:
    """Read and check the shape of a sweep file (method, metric, parameters, command)."""
    path = sweep_path(name)
    try:
        config = yaml.safe_load(path.read_text())
    except yaml.YAMLError as error:
        raise LabError(f"{path}: not valid YAML: {error}") from None
    if not isinstance(config, dict):
        raise LabError(f"{path}: a sweep file is a mapping with program, method, metric, parameters, command")
    where = f"conf/sweep/{path.name}" if path.parent == SWEEP_DIR else str(path)
    _check_shape(config, where)
    program, fixed = _split_command(config, where)
    return SweepSpec(name=path.stem, config=config, program=program, fixed=fixed, source=str(path))


def plain(value: Any) -> Any:
    """NumPy scalars from the search engine -> Python numbers (repr(np.float64(0.2)) is not a Hydra value)."""
    return value.item() if isinstance(value, np.generic) else value


def override(key: str, value: Any) -> str:
    """A Hydra command-line override for one swept value."""
    value = plain(value)
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif value is None:
        text = "null"
    elif isinstance(value, (list, tuple)):
        text = "[" + ",".join(override("", v)[1:] for v in value) + "]"
    elif isinstance(value, float):
        text = repr(value)
    else:
        text = str(value)
    return f"{key}={text}"


def param_overrides(run_config: dict[str, Any]) -> list[str]:
    """`{key: {'value': v}}` as the sweeps engine proposes it -> ['key=v', ...]."""
    return [override(key, entry["value"]) for key, entry in run_config.items()]
