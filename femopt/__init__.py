"""femopt: finite-element structural optimization with an exact, sparse adjoint.

    import femopt
    config = femopt.load_config("configs/mbb.yaml")     # or a dict of the same YAML
    result = femopt.run(config)                          # femopt.run(config, "out/mbb") writes files
    result.objective, result.iterations, result.status   # 203.19…, 94, "converged"
"""

__version__ = "0.1.0"

from femopt.api import prepare, run  # noqa: E402
from femopt.config import load_config  # noqa: E402
from femopt.errors import ConfigError, FemoptError  # noqa: E402
from femopt.topopt import Constraint, Evaluator, IterationRecord, Result, optimize  # noqa: E402

__all__ = ["load_config", "prepare", "run", "optimize", "Evaluator", "Constraint", "Result",
           "IterationRecord", "FemoptError", "ConfigError", "__version__"]
