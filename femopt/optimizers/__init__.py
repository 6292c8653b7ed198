"""Optimizers behind one ``step`` interface, registered by the name used in YAML."""

from functools import partial

from femopt.optimizers.base import Optimizer
from femopt.optimizers.lbfgs import LBFGSB
from femopt.optimizers.mma import MMA
from femopt.optimizers.oc import OC

# name -> constructor(lower, upper, move=..., **options); problem files choose by name.
OPTIMIZERS = {"oc": OC, "mma": partial(MMA, normalize_objective=True), "lbfgs": LBFGSB}
# The YAML keys of ``optimizer:`` beyond type, move, max_iterations and tolerance that
# each optimizer takes, mapped to its constructor's keyword.
OPTIMIZER_OPTIONS = {
    "oc": {},
    "mma": {},
    "lbfgs": {"inner_iterations": "inner_iterations", "constraint_penalty": "penalty"},
}

__all__ = ["Optimizer", "OC", "MMA", "LBFGSB", "OPTIMIZERS", "OPTIMIZER_OPTIONS"]
