"""The responses of a problem file: the objective and the constraints, each built by its
registered factory (:data:`femopt.responses.RESPONSES`) with its selections as nodes."""

from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass

from femopt.build.selections import Selections, response_selections
from femopt.config import ProblemConfig, python_file
from femopt.fem.problem import Problem
from femopt.loop.evaluator import Constraint
from femopt.responses import RESPONSES


@dataclass(frozen=True)
class ResponseContext:
    """What a response factory (femopt.responses.RESPONSES) may use: the problem, and
    a loader for user functions that reports errors against ``path``."""

    config: ProblemConfig
    problem: Problem
    path: str

    def load_callable(self, text: str):
        """Import ``module:name`` or ``file.py:name`` (relative to the problem file)."""
        where, _, name = text.rpartition(":")
        error_path = f"{self.path}.function"
        if not where or not name:
            raise self.config.error(error_path, f"expected 'module:name' or 'file.py:name', got {text!r}")
        try:
            if where.endswith(".py"):
                path = python_file(self.config.source, where)  # as the fingerprint reads it
                module_spec = importlib.util.spec_from_file_location(path.stem, path)
                module = importlib.util.module_from_spec(module_spec)
                module_spec.loader.exec_module(module)
            else:
                module = importlib.import_module(where)
            function = getattr(module, name)
        except Exception as exc:  # a user's module can fail in any way; report it in one line
            raise self.config.error(error_path, f"cannot load {text!r}: {type(exc).__name__}: {exc}") from None
        if not callable(function):
            raise self.config.error(error_path, f"{text!r} is not callable")
        return function


def build_responses(config: ProblemConfig, problem: Problem, resolved: Selections | None = None):
    """(objective, [Constraint]) of ``config`` on ``problem``: each response from RESPONSES,
    its selections as nodes (from ``resolved``, the problem's resolved selections, or
    resolved here)."""
    resolved = Selections(response_selections(config, problem.mesh)) if resolved is None else resolved

    def response(spec):
        entry = RESPONSES[spec.type]
        return entry.create(ResponseContext(config, problem, spec.path), **resolved.response_options(spec))

    constraints = [Constraint(response(c), c.limit, c.path) for c in config.constraint_list]
    return response(config.objective), constraints
