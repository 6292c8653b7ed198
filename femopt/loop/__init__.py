"""The optimization loop: one evaluation with the chain rule written out
(:mod:`~femopt.loop.evaluator`), the driver (:mod:`~femopt.loop.driver`), the robust
formulation's evaluator (:mod:`~femopt.loop.robust`) and the gradient check
(:mod:`~femopt.loop.gradcheck`).

Nothing is imported here: the command line imports :mod:`femopt.loop.gradcheck` at start-up,
which must not pull in the design stages and solvers (``femopt --version`` stays fast).
"""
