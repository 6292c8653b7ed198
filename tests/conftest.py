"""Shared fixtures: small problems built through the real config path."""

from pathlib import Path

import pytest

from femopt.config import parse_config

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT / "configs"


def mbb_data(nx=60, ny=20, filter_type="sensitivity", radius=1.5, **optimizer):
    """The 88-line code's half MBB beam as YAML data."""
    return {
        "problem": "mbb-beam",
        "mesh": {"grid": [nx, ny], "size": [float(nx), float(ny)]},
        "material": {"E": 1.0, "nu": 0.3, "Emin": 1e-9, "thickness": 1.0},
        "supports": [{"at": {"x": 0}, "fix": ["x"]}, {"at": {"x": nx, "y": 0}, "fix": ["y"]}],
        "loads": [{"at": {"x": 0, "y": ny}, "force": [0.0, -1.0]}],
        "design": {"volume_fraction": 0.5, "penalty": 3.0,
                   "filter": {"type": filter_type, "radius": radius}},
        "optimizer": {"type": "oc", "move": 0.2, "max_iterations": 1000, "tolerance": 0.01, **optimizer},
    }


@pytest.fixture
def mbb_config():
    def make(**kwargs):
        return parse_config(mbb_data(**kwargs), source="test")
    return make
