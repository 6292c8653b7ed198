"""Robust projection (Wang, Lazarov & Sigmund 2011): three thresholds and the length scale
they impose.

The filtered field ρ̃ is projected three times, with the thresholds

    eroded η + Δη,   intermediate (blueprint) η,   dilated η − Δη

(η = 0.5 by default): a uniformly thinner, the nominal and a uniformly thicker version of
one design, as an over- or under-etched part would be. :mod:`femopt.loop.robust` optimizes
the worst of the three; this module holds what needs no solver.

Minimum length scale (Qian & Sigmund 2013, in the limit β → ∞ for 0/1 designs). If every
solid member of the blueprint survives in the eroded design, then the thinnest one arises
where the eroded design keeps only a line: a straight bar of design x = 1, half-width a,
whose filtered peak is exactly η_e. With the filter weights w(s) = max(0, r − |s|) of
:mod:`femopt.design.filters` in d dimensions, the filtered field across a bar (2D) or a
plate (3D) is a 1D convolution with the marginal kernel

    k(s) = r − |s|                                 (d = 1)
    k(s) = r h − s² ln((r + h)/|s|),  h = √(r² − s²)  (d = 2: the cone integrated along the bar)
    k(s) = (π/3)(r − |s|)²(r + 2|s|)               (d = 3: integrated over the plate's plane)

so with K the normalized integral of k, ρ̃(y) = K(y + a) − K(y − a): a solves
2K(a) − 1 = η_e and the blueprint member is {ρ̃ ≥ η}, of width b_s = 2y* with
ρ̃(y*) = η. Void is the same with ρ̃ → 1 − ρ̃: b_v uses (1 − η_d, 1 − η). Bars and
plates are the binding shapes: a round feature (a disk of x around a point of the eroded
design) needs more material for the same peak and keeps a wider blueprint (computed on a
fine grid for r = 1, η_e = 0.7: blueprint radius 0.47 against the bar's half-width 0.42).
For Δη = 0.2 and η = 0.5: b = 0.844 r in 2D, 0.788 r in 3D (0.894 r = 2r√Δη in 1D, the
closed form for Δη ≤ 1/4). A morphological opening of the blueprint's solid (or void) with a disk of
radius b/2 then removes (almost) nothing; tests/test_robust.py checks it on results
(``opening_loss`` in tests/helpers.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import brentq


@dataclass(frozen=True)
class RobustThresholds:
    """The three projection thresholds around ``eta`` (the blueprint's), ``delta_eta`` apart;
    0 < eta − delta_eta and eta + delta_eta < 1."""

    delta_eta: float = 0.2
    eta: float = 0.5

    def __post_init__(self):
        if not 0.0 < self.eta - self.delta_eta < self.eta + self.delta_eta < 1.0:
            raise ValueError(f"thresholds {self.eta:g} ± {self.delta_eta:g} must lie in (0, 1)")

    @property
    def eroded(self) -> float:
        return self.eta + self.delta_eta

    @property
    def dilated(self) -> float:
        return self.eta - self.delta_eta

    @property
    def all(self) -> tuple[float, float, float]:
        """(eroded, blueprint, dilated) thresholds, in the order they are evaluated."""
        return self.eroded, self.eta, self.dilated


def marginal_kernel(s: np.ndarray, radius: float, dim: int) -> np.ndarray:
    """(n,) the filter weights max(0, r − |p|) of a ``dim``-dimensional point p integrated
    over the directions normal to s: the kernel of a bar (2D) or plate (3D) profile.
    s: (n,) offsets in length units; radius: r in the same units."""
    s, r = np.abs(np.asarray(s, float)), float(radius)
    inside = s < r
    if dim == 1:
        return np.where(inside, r - s, 0.0)
    if dim == 2:
        h = np.sqrt(np.maximum(r * r - s * s, 0.0))
        safe = np.where(s > 0, s, 1.0)  # s² ln(…) → 0 as s → 0
        return np.where(inside, r * h - s * s * np.log(np.where(s > 0, (r + h) / safe, 1.0)), 0.0)
    if dim == 3:
        return np.where(inside, np.pi / 3.0 * (r - s) ** 2 * (r + 2.0 * s), 0.0)
    raise ValueError(f"dim must be 1, 2 or 3, got {dim}")


def member_width(radius: float, eta_outer: float, eta: float, dim: int, samples: int = 20001) -> float:
    """The narrowest blueprint member (length units) whose eroded version still exists:
    a 0/1 bar with filtered peak ``eta_outer`` is {ρ̃ ≥ ``eta``} this wide (module docstring).

    For solid members eta_outer is the eroded threshold; for void ones call it with
    (1 − dilated, 1 − eta). radius: the filter radius r; dim: the mesh dimension.
    """
    if not 0.0 < eta < eta_outer < 1.0:
        raise ValueError(f"need 0 < eta < eta_outer < 1, got {eta:g} and {eta_outer:g}")
    r = float(radius)
    s = np.linspace(-r, r, samples)
    k = marginal_kernel(s, r, dim)
    cumulative = np.concatenate([[0.0], np.cumsum(0.5 * (k[1:] + k[:-1]) * np.diff(s))])
    cumulative /= cumulative[-1]

    def K(t):
        return np.interp(t, s, cumulative)

    half = brentq(lambda a: 2.0 * K(a) - 1.0 - eta_outer, 0.0, r, xtol=1e-12 * r)
    edge = brentq(lambda y: K(y + half) - K(y - half) - eta, 0.0, half + r, xtol=1e-12 * r)
    return 2.0 * edge


def length_scales(radius: float, thresholds: RobustThresholds, dim: int) -> tuple[float, float]:
    """(solid, void): the minimum member widths (length units) of the blueprint that the
    robust formulation with filter radius ``radius`` imposes on a ``dim``-D design.
    A disk (ball) of diameter equal to them fits in every solid (void) member."""
    solid = member_width(radius, thresholds.eroded, thresholds.eta, dim)
    void = member_width(radius, 1.0 - thresholds.dilated, 1.0 - thresholds.eta, dim)
    return solid, void
