"""The lab: classic model families as LightningModules, driven by Hydra configs.

Importing it changes nothing outside it: the lab's own runs switch on what they need (lab.quiet, lab.fast_lightning).
"""

__version__ = "0.1.0"
