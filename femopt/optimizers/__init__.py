"""Optimizers behind one ``step`` interface, registered by the name used in YAML."""

from femopt.optimizers.base import Optimizer
from femopt.optimizers.mma import MMA
from femopt.optimizers.oc import OC

OPTIMIZERS = {"oc": OC, "mma": MMA}

__all__ = ["Optimizer", "OC", "MMA", "OPTIMIZERS"]
