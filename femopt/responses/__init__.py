"""Responses of a solved design: values and partial derivatives, never a factorization."""
