"""Optimizers behind one ``step`` interface, registered by the name used in YAML.

Each entry's factory takes ``(lower, upper, **options)``; the options listed here
are the keys its ``optimizer:`` section may hold besides ``type``, ``max_iterations``
and ``tolerance`` (which belong to the loop, :func:`femopt.loop.driver.optimize`).
"""

from femopt.optimizers.base import Optimizer
from femopt.optimizers.lbfgs import LBFGSB
from femopt.optimizers.mma import MMA
from femopt.optimizers.oc import OC
from femopt.registry import Option, Registry

OPTIMIZERS = Registry("optimizer")
_MOVE = Option(0.2, bounds={"gt": 0, "le": 1}, doc="largest change of a design variable per iteration")
OPTIMIZERS.register("oc", OC, move=_MOVE,
                    variant=Option("top88", "choice", choices=("top88", "top99"),
                                   doc="the 88-line code's update, or the 99-line code's"),
                    doc="optimality criteria: compliance with one volume constraint")
OPTIMIZERS.register("mma", lambda lower, upper, move: MMA(lower, upper, move=move, normalize_objective=True),
                    move=_MOVE, doc="the method of moving asymptotes: any objective and constraints")
OPTIMIZERS.register("lbfgs", LBFGSB, move=_MOVE,
                    inner_iterations=Option(50, "integer", bounds={"ge": 1},
                                            doc="L-BFGS-B iterations per optimizer step"),
                    constraint_penalty=Option(10.0, bounds={"gt": 0}, doc="the augmented Lagrangian's starting mu"),
                    doc="scipy's L-BFGS-B on an augmented Lagrangian of the constraints")

__all__ = ["Optimizer", "OC", "MMA", "LBFGSB", "OPTIMIZERS"]
