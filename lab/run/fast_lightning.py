"""Per-step costs of Lightning's loop removed, with its behaviour unchanged; applied only inside the lab's own run.

`lab.train` wraps `Trainer.fit`/`test` in `patched()` (config `trainer_patches: true`, the default); on leaving it
Lightning's own functions are back. Importing any lab module changes nothing in Lightning.

Measured on a 2-core CPU, where a LeNet step on mnist5k takes 6-8 ms:

- `self.log` moves the result's state to the value's device through a generic `apply_to_collection` that
  deep-copies the metadata dataclasses (~0.45 ms a call). The move is skipped when every tensor state is
  already on that device; any other case goes through Lightning's own `to`.
- Every callback hook (six a training step) loops over all callbacks, building each one's profiler label
  and `state_key` (a repr of ModelCheckpoint's settings) even for callbacks that inherit the hook's no-op.
  A hook no callback overrides is now not dispatched at all; likewise a LightningModule hook whose body is
  empty (Lightning's own `on_before_backward`, `on_train_batch_end`, ... that a module does not override).
- `self.log` and the loop's `_build_kwargs` call `inspect.getfullargspec` on `training_step` every step to
  see whether it takes `dataloader_iter`. The answer depends only on the function, so it is cached.

Each patch is guarded: if a private Lightning name it wraps is gone (a newer Lightning), that patch is skipped
and Lightning's own code runs; `patched()` yields the names of the patches it applied.
"""

from __future__ import annotations

import contextlib
import dis
import functools
import importlib
from typing import Callable, Iterator

import torch
from pytorch_lightning import Callback
from torchmetrics import Metric


# --- self.log: no device move when the state is already there ------------------------------------------

def _on_device(result, device: torch.device) -> bool:
    """Whether the result's tensor states (and the Metric it wraps, if any) already live on `device`."""
    for name in result._defaults:
        if getattr(result, name).device != device:
            return False
    wrapped = result.__dict__.get("value")
    return not isinstance(wrapped, Metric) or wrapped.device == device


def _patch_result_to() -> list[tuple[object, str, object]]:
    from pytorch_lightning.trainer.connectors.logger_connector.result import _ResultMetric

    lightning_to = _ResultMetric.to

    def to(self, *args, **kwargs):
        device = args[0] if args else kwargs.get("device")
        only_device = len(args) + len(kwargs) == 1
        if only_device and isinstance(device, torch.device) and _on_device(self, device):
            return self
        return lightning_to(self, *args, **kwargs)

    return [(_ResultMetric, "to", to)]


# --- callback hooks: skip the ones no callback overrides -------------------------------------------------

def overrides_hook(callback: Callback, hook_name: str) -> bool:
    """Whether `callback` does anything on `hook_name`: its class (or the instance) replaces Callback's no-op."""
    return hook_name in vars(callback) or getattr(type(callback), hook_name, None) is not getattr(Callback, hook_name, None)


def _patch_callback_dispatch() -> list[tuple[object, str, object]]:
    from pytorch_lightning.trainer import call

    lightning_call = call._call_callback_hooks

    def _call_callback_hooks(trainer, hook_name, *args, **kwargs):
        if not any(overrides_hook(callback, hook_name) for callback in trainer.callbacks):
            return None
        return lightning_call(trainer, hook_name, *args, **kwargs)

    return [(call, "_call_callback_hooks", _call_callback_hooks)]


# --- LightningModule hooks: skip the ones whose body is empty ---------------------------------------------

_NO_EFFECT = {"RESUME", "NOP", "RETURN_VALUE"}
_NONE_ONLY = {"LOAD_CONST", "RETURN_CONST"}


@functools.lru_cache(maxsize=4096)
def _empty_body(code) -> bool:
    return all(op.opname in _NO_EFFECT or (op.opname in _NONE_ONLY and op.argval is None)
               for op in dis.get_instructions(code))


def does_nothing(function) -> bool:
    """Whether `function` (or a bound method) has an empty body (docstring, `pass`, `return None`): calling it
    has no effect, as with each of Lightning's unimplemented hooks."""
    code = getattr(getattr(function, "__func__", function), "__code__", None)
    return code is not None and _empty_body(code)


def _patch_module_hook_dispatch() -> list[tuple[object, str, object]]:
    from pytorch_lightning.trainer import call

    lightning_call = call._call_lightning_module_hook

    def _call_lightning_module_hook(trainer, hook_name, *args, pl_module=None, **kwargs):
        module = pl_module or trainer.lightning_module
        if module is not None and does_nothing(getattr(module, hook_name, None)):
            return None
        return lightning_call(trainer, hook_name, *args, pl_module=pl_module, **kwargs)

    return [(call, "_call_lightning_module_hook", _call_lightning_module_hook)]


# --- hook signatures: inspect each function once ---------------------------------------------------------

def _patch_signature_cache() -> list[tuple[object, str, object]]:
    from pytorch_lightning.utilities import signature_utils

    lightning_check = signature_utils.is_param_in_hook_signature

    @functools.lru_cache(maxsize=1024)
    def cached(function, param, explicit, min_args) -> bool:
        return lightning_check(function, param, explicit=explicit, min_args=min_args)

    def is_param_in_hook_signature(hook_fx, param: str, explicit: bool = False, min_args: int | None = None) -> bool:
        try:
            return cached(getattr(hook_fx, "__func__", hook_fx), param, explicit, min_args)
        except TypeError:  # an unhashable callable
            return lightning_check(hook_fx, param, explicit=explicit, min_args=min_args)

    targets = [importlib.import_module(name) for name in
               ("pytorch_lightning.core.module", "pytorch_lightning.loops.training_epoch_loop")]
    found = [module for module in targets if getattr(module, "is_param_in_hook_signature", None) is lightning_check]
    if not found:
        raise AttributeError("is_param_in_hook_signature is no longer imported where it was")
    return [(module, "is_param_in_hook_signature", is_param_in_hook_signature) for module in found]


# --- applying and undoing ----------------------------------------------------------------------------------

PATCHES: dict[str, Callable[[], list[tuple[object, str, object]]]] = {
    "log_device_move": _patch_result_to,
    "callback_dispatch": _patch_callback_dispatch,
    "module_hook_dispatch": _patch_module_hook_dispatch,
    "signature_cache": _patch_signature_cache,
}


_INHERITED = object()  # the attribute came from a base class: undo by deleting the override


@contextlib.contextmanager
def patched(enabled: bool = True) -> Iterator[list[str]]:
    """Apply every patch whose Lightning names exist, yield their names, and restore Lightning's functions on
    exit. A patch whose private name is missing (ImportError/AttributeError) is skipped, never an error."""
    applied: list[str] = []
    undo: list[tuple[object, str, object]] = []
    try:
        for name, make in (PATCHES.items() if enabled else ()):
            try:
                replacements = make()
            except (ImportError, AttributeError):
                continue
            for owner, attribute, replacement in replacements:
                undo.append((owner, attribute, vars(owner).get(attribute, _INHERITED)))
                setattr(owner, attribute, replacement)
            applied.append(name)
        yield applied
    finally:
        for owner, attribute, original in reversed(undo):
            if original is _INHERITED:
                delattr(owner, attribute)
            else:
                setattr(owner, attribute, original)
