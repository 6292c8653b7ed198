"""From a validated problem file to the objects of a run, once."""

from femopt.build.structure import (Model, ResponseContext, build, build_mesh, build_problem,
                                    build_responses, build_solver, check_memory, design_warnings,
                                    memory_estimate, robust_notice)
