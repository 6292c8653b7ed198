"""Optimizers behind one ``step`` interface, registered by the name used in YAML."""

from functools import partial

from femopt.optimizers.base import Optimizer
from femopt.optimizers.lbfgs import LBFGSB
from femopt.optimizers.mma import MMA
from femopt.optimizers.oc import OC

# name -> constructor(lower, upper, move=...); problem files choose by name.
OPTIMIZERS = {"oc": OC, "mma": partial(MMA, normalize_objective=True), "lbfgs": LBFGSB}

__all__ = ["Optimizer", "OC", "MMA", "LBFGSB", "OPTIMIZERS"]
