"""Muon on a net's hidden matrices and AdamW on the rest, as one optimiser (`optimizer=muon`).

torch ships Muon (`torch.optim.Muon`: momentum orthogonalised by Newton-Schulz iterations; Jordan et al. 2024) for
2-D parameters only; embeddings, the output layer tied to them, biases and norm gains need an element-wise
optimiser. Lightning's automatic optimisation, its gradient clipping and the per-step schedulers want one
optimiser, so `MuonAdamW` holds both and shows their param groups as its own: a scheduler that sets group["lr"]
sets it for both. Muon's step is scaled to AdamW's update size ("match_rms_adamw", Liu et al. 2025), so one lr
and one weight decay serve both.

The groups come from lab.models.optim.parameter_groups: the 2-D parameters of the decayed group (matrices outside
embeddings) go to Muon, everything else (convolution kernels included) to AdamW with its group's weight decay.
"""

from __future__ import annotations

import torch

from lab.errors import LabError


class MuonAdamW(torch.optim.Optimizer):
    def __init__(self, params, lr: float = 1e-3, weight_decay: float = 0.1, betas=(0.9, 0.95),
                 momentum: float = 0.95, eps: float = 1e-8, ns_steps: int = 5) -> None:
        params = list(params)
        groups = [dict(g) for g in params] if params and isinstance(params[0], dict) else [{"params": params}]
        matrices, rest = [], []
        for group in groups:
            decay = group.get("weight_decay", weight_decay)
            others = []
            for p in group["params"]:
                (matrices if decay and p.ndim == 2 else others).append(p)
            if others:
                rest.append({**group, "params": others, "weight_decay": decay})
        if not matrices:
            raise LabError("optimizer=muon needs the net's matrices apart from its embeddings, biases and gains: set "
                           "model.optimizer.weight_decay > 0 (the decayed group is what Muon takes)")
        self.muon = torch.optim.Muon(matrices, lr=lr, weight_decay=weight_decay, momentum=momentum,
                                     ns_steps=ns_steps, adjust_lr_fn="match_rms_adamw")
        self.adamw = torch.optim.AdamW(rest, lr=lr, betas=tuple(betas), eps=eps)
        super().__init__([p for group in groups for p in group["params"]], {"lr": lr})
        self.param_groups = self.muon.param_groups + self.adamw.param_groups

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        self.muon.step()
        self.adamw.step()
        return loss

    def state_dict(self) -> dict:
        return {"muon": self.muon.state_dict(), "adamw": self.adamw.state_dict()}

    def load_state_dict(self, state_dict: dict) -> None:
        if set(state_dict) != {"muon", "adamw"}:
            raise LabError("this optimiser state was not saved by optimizer=muon; resume with the optimizer the run "
                           "was started with")
        self.muon.load_state_dict(state_dict["muon"])
        self.adamw.load_state_dict(state_dict["adamw"])
        self.param_groups = self.muon.param_groups + self.adamw.param_groups
