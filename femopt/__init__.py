"""femopt: finite-element structural optimization with an exact, sparse adjoint.

    import femopt
    config = femopt.load_config("configs/mbb.yaml")     # or a dict of the same YAML
    result = femopt.run(config)                          # femopt.run(config, "out/mbb") writes files
    result.objective, result.iterations, result.status   # 203.19…, 94, "converged"
"""

import importlib

__version__ = "0.1.0"

# The API is imported on first use, so that ``import femopt`` and ``femopt --version``
# stay fast (SciPy's signal module alone takes a second to import).
_API = {
    "load_config": "femopt.config",
    "prepare": "femopt.api",
    "run": "femopt.api",
    "analyze": "femopt.api",
    "study": "femopt.study",
    "optimize": "femopt.loop.driver",
    "Evaluator": "femopt.loop.evaluator",
    "Constraint": "femopt.loop.evaluator",
    "Result": "femopt.loop.driver",
    "IterationRecord": "femopt.loop.driver",
    "FemoptError": "femopt.errors",
    "ConfigError": "femopt.errors",
}
__all__ = [*_API, "__version__"]


def __getattr__(name: str):
    if name not in _API:
        raise AttributeError(f"module 'femopt' has no attribute {name!r}")
    return getattr(importlib.import_module(_API[name]), name)


def __dir__():
    return __all__
