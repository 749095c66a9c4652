"""Importing the lab changes nothing outside it: every module of `lab` and `envs`, imported after the libraries
they import (whose own import-time changes are theirs), leaves the process's global state as it found it."""

import json
import subprocess
import sys

from conftest import REPO

WALK = """
import importlib, pkgutil
import lab, envs

def import_every_lab_module():
    for package in (lab, envs):
        for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
            importlib.import_module(info.name)
"""

# The modules the lab's import pulled in from outside it, in the order they were imported.
DEPENDENCIES = WALK + """
import json, sys
import_every_lab_module()
print(json.dumps([name for name in sys.modules if not name.startswith(("lab", "envs", "_"))]))
"""

SNAPSHOT = """
import hashlib, logging, os, random, signal, sys, threading, warnings

def snapshot():
    import gymnasium, matplotlib, numpy, torch
    from pytorch_lightning.core import module
    from pytorch_lightning.loops import training_epoch_loop
    from pytorch_lightning.trainer import call
    from pytorch_lightning.trainer.connectors.logger_connector.result import _ResultMetric

    rc = matplotlib.rcParams  # read without resolving the backend: dict's own accessors
    loggers = {name: (logger.level, logger.propagate, logger.disabled, logger.handlers, logger.filters)
               for name, logger in logging.root.manager.loggerDict.items()
               if isinstance(logger, logging.Logger) and not name.startswith(("lab", "envs"))}
    state = {
        "matplotlib backend": dict.__getitem__(rc, "backend"),
        "matplotlib rcParams": {key: dict.__getitem__(rc, key) for key in dict.keys(rc)},
        "warning filters": warnings.filters,
        "warnings.showwarning": warnings.showwarning,
        "os.environ": dict(os.environ),
        "working directory": os.getcwd(),
        "sys.path": sys.path,
        "excepthooks": (sys.excepthook, threading.excepthook),
        "signal handlers": [signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGUSR1)],
        "torch threads": (torch.get_num_threads(), torch.get_num_interop_threads()),
        "torch default dtype": torch.get_default_dtype(),
        "torch default device": torch.get_default_device(),
        "torch switches": (torch.are_deterministic_algorithms_enabled(), torch.get_float32_matmul_precision(),
                           torch.is_grad_enabled(), torch.backends.cudnn.benchmark),
        "random states": hashlib.sha1(repr((random.getstate(), numpy.random.get_state(),
                                            torch.random.get_rng_state().tolist())).encode()).hexdigest(),
        "numpy error handling": numpy.geterr(),
        "logging (root)": (logging.root.level, logging.root.handlers, logging.root.filters),
        "logging (other libraries)": loggers,
        "gymnasium ids outside lab/": sorted(i for i in gymnasium.envs.registry if not i.startswith("lab/")),
        "Lightning internals": [call._call_callback_hooks, call._call_lightning_module_hook, _ResultMetric.to,
                                module.is_param_in_hook_signature, training_epoch_loop.is_param_in_hook_signature],
    }
    return {key: repr(value) for key, value in state.items()}
"""

COMPARE = WALK + SNAPSHOT + """
import importlib, json
for name in json.load(sys.stdin):  # thousands of names: too long for an argument
    try:
        importlib.import_module(name)
    except BaseException:  # a submodule that only its parent can load, a platform-specific one, ...
        pass
before = snapshot()
import_every_lab_module()
after = snapshot()
print(json.dumps({key: [before[key][:300], after[key][:300]] for key in before if before[key] != after[key]}))
"""


def _python(script: str, stdin: str = "") -> str:
    result = subprocess.run([sys.executable, "-c", script], input=stdin, cwd=REPO, capture_output=True, text=True,
                            timeout=300, env=None)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout.strip().splitlines()[-1]


def test_importing_every_lab_module_changes_nothing_outside_the_lab():
    dependencies = json.loads(_python(DEPENDENCIES))
    assert "torch" in dependencies and "pytorch_lightning" in dependencies
    changed = json.loads(_python(COMPARE, json.dumps(dependencies)))
    assert changed == {}, "\n".join(f"{key}:\n  before {old}\n  after  {new}" for key, (old, new) in changed.items())
