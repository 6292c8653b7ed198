"""Result files: plots, history, arrays and a summary, published atomically into a locked folder."""

from femopt.output.folder import OutputFolder
from femopt.output.writer import expected_bytes, write_files, write_results

__all__ = ["OutputFolder", "expected_bytes", "write_files", "write_results"]
