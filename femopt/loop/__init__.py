"""The optimization loop: one evaluation with the chain rule written out, the driver, the
robust evaluator and the gradient check."""
