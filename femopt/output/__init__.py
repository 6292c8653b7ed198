"""Result files: plots, history, arrays and a summary, written atomically."""

from femopt.output.writer import write_results

__all__ = ["write_results"]
