"""Langelaar's additive-manufacturing (AM) filter: the printed design of a blueprint.

A part printed layer by layer from a baseplate can only hold material where the layer
below supports it. On a structured grid with layers normal to the build direction
(Langelaar, Struct Multidisc Optim 2017 in 2D; Additive Manufacturing 2016 in 3D), the
base layer is printed as designed and every other element's printed density is

    ξ_e = smin(x_e, smax(ξ_s : s ∈ S_e))

with x the blueprint and S_e the supporting elements in the layer below: 3 in 2D (below
left, below, below right), 5 (cross) or 9 (square) in 3D. The smooth maximum and minimum
are his published code's (AMfilter.m, P = 40, ε = 1e-4, ξ₀ = 0.5):

    smax = (Σ_s (ξ_s + SHIFT)^P)^(1/Q) − BACKSHIFT,   Q = P + log(N_s)/log(ξ₀)
    smin(x, X) = (x + X − √((x − X)² + ε) + √ε) / 2

Q makes smax exact when all N_s supports equal ξ₀; SHIFT = 100 · realmin^(1/P) keeps
the power's base off zero (its derivative would divide by zero) and BACKSHIFT =
0.95 · N_s^(1/Q) · SHIFT^(P/Q) takes it back, 5 % short, so that smax over void is
slightly above 0, never below. Supports beyond the domain's sides count as void (his
code pads the layer below with zeros). Consequences: a fully supported solid element prints a
little above 1 (1.004 with 3 supports: smax overshoots at ξ = 1), a void one at about
√ε/2 = 0.005, and each layer of solid blueprint stacked over void adds about √ε/2 more.

The forward map runs layer by layer (each layer needs the printed one below); the VJP
runs back from the top layer, carrying the cotangent λ of each printed layer to the one
below. Both are vectorized per layer (a loop over layers, never over elements).
"""

from __future__ import annotations

import numpy as np

DIRECTIONS = ("+x", "-x", "+y", "-y", "+z", "-z")
SUPPORTS = {2: (3,), 3: (5, 9)}   # the supporting elements per dimension; the first is the default
XI_0 = 0.5                        # ξ₀: smax is exact when every support has this density

# Lateral offsets (in the two axes of a layer) of the supporting elements in the layer
# below. In 2D a layer has one lateral axis; a trailing axis of length 1 makes it 2D.
_OFFSETS = {
    3: ((-1, 0), (0, 0), (1, 0)),
    5: ((0, 0), (-1, 0), (1, 0), (0, -1), (0, 1)),
    9: tuple((a, b) for a in (-1, 0, 1) for b in (-1, 0, 1)),
}


class OverhangFilter:
    """The AM filter on a structured grid: ``apply`` maps a blueprint to the printed design.

    grid: elements per axis (nx, ny[, nz]), numbered as :mod:`femopt.mesh.structured` does
    (y fastest, then x, then z). build_direction: the axis along which the part grows
    from its baseplate, with its sense: "+y" prints from the face y = 0 upwards, "-y" from
    the face y = max downwards. support: 3 (2D), 5 or 9 (3D; default 5). p, epsilon: the
    smooth maximum's exponent and the smooth minimum's regularization.
    """

    active = True

    def __init__(self, grid, build_direction: str = "+y", support: int | None = None,
                 p: float = 40.0, epsilon: float = 1.0e-4):
        grid = tuple(int(n) for n in grid)
        dim = len(grid)
        if dim not in SUPPORTS:
            raise ValueError(f"grid {grid} must have 2 or 3 entries")
        if build_direction not in DIRECTIONS[:2 * dim]:
            raise ValueError(f"build direction {build_direction!r} on a {dim}D grid "
                             f"(use one of {', '.join(DIRECTIONS[:2 * dim])})")
        support = SUPPORTS[dim][0] if support is None else int(support)
        if support not in SUPPORTS[dim]:
            counts = " or ".join(map(str, SUPPORTS[dim]))
            raise ValueError(f"support {support} on a {dim}D grid (use {counts})")
        self.grid, self.build_direction, self.support = grid, build_direction, support
        self.p, self.epsilon = float(p), float(epsilon)
        self.q = self.p + np.log(support) / np.log(XI_0)
        self.shift = 100.0 * np.finfo(float).tiny ** (1.0 / self.p)
        self.backshift = 0.95 * support ** (1.0 / self.q) * self.shift ** (self.p / self.q)
        self._offsets = _OFFSETS[support]
        # The element vector as an array: (nx, ny) in 2D, (nz, nx, ny) in 3D (C order).
        self._shape = grid if dim == 2 else (grid[2], grid[0], grid[1])
        axes = {"x": 0, "y": 1} if dim == 2 else {"z": 0, "x": 1, "y": 2}
        self._axis = axes[build_direction[1]]
        self._reverse = build_direction[0] == "-"

    # -- layout: element vector <-> layers (base first) × 2 lateral axes ------------------

    def _to_layers(self, values: np.ndarray) -> np.ndarray:
        """(n_layers, n1, n2) contiguous copy of an element vector, the base layer first."""
        array = np.moveaxis(np.asarray(values, float).reshape(self._shape), self._axis, 0)
        if self._reverse:
            array = array[::-1]
        if array.ndim == 2:
            array = array[:, :, None]
        return np.ascontiguousarray(array)

    def _from_layers(self, layers: np.ndarray) -> np.ndarray:
        """The element vector (n_elements,) of a layered array (inverse of _to_layers)."""
        array = layers[:, :, 0] if len(self._shape) == 2 else layers
        if self._reverse:
            array = array[::-1]
        return np.ascontiguousarray(np.moveaxis(array, 0, self._axis)).ravel()

    def _stencil_sum(self, padded: np.ndarray) -> np.ndarray:
        """(..., n1, n2) Σ over the support offsets of ``padded`` (..., n1 + 2, n2 + 2) shifted:
        the sum over each element's supports. The offsets are symmetric (−d is one too), so
        the same sum is its own transpose."""
        n1, n2 = padded.shape[-2] - 2, padded.shape[-1] - 2
        total = np.zeros(padded.shape[:-2] + (n1, n2))
        for a, b in self._offsets:
            total += padded[..., 1 + a:1 + a + n1, 1 + b:1 + b + n2]
        return total

    def _pad(self, values: np.ndarray, fill: float) -> np.ndarray:
        """values (..., n1, n2) inside a frame of one element of ``fill`` on each lateral side."""
        padded = np.full(values.shape[:-2] + (values.shape[-2] + 2, values.shape[-1] + 2), fill)
        padded[..., 1:-1, 1:-1] = values
        return padded

    def _smax(self, below: np.ndarray) -> np.ndarray:
        """(..., n1, n2) the smooth maximum over each element's supports in ``below``, the printed
        layer(s) underneath (..., n1, n2); supports beyond the sides are void."""
        powered = self._pad((below + self.shift) ** self.p, self.shift ** self.p)
        return self._stencil_sum(powered) ** (1.0 / self.q) - self.backshift

    # -- the stage: forward map and VJP -----------------------------------------------------

    def apply(self, blueprint: np.ndarray) -> np.ndarray:
        """(n_elements,) the printed densities ξ of the blueprint x (n_elements,), in [0, 1]."""
        x = self._to_layers(blueprint)
        printed = np.empty_like(x)
        printed[0] = x[0]  # the base layer stands on the baseplate
        root_eps = np.sqrt(self.epsilon)
        for layer in range(1, len(x)):
            smax = self._smax(printed[layer - 1])
            d = x[layer] - smax
            printed[layer] = 0.5 * (x[layer] + smax - np.sqrt(d * d + self.epsilon) + root_eps)
        return self._from_layers(printed)

    def vjp(self, blueprint: np.ndarray, printed: np.ndarray, printed_bar: np.ndarray) -> np.ndarray:
        """(n_elements,) x̄ = (∂ξ/∂x)ᵀ ξ̄ at the blueprint x and its printed design ξ = apply(x)
        (n_elements,), for the cotangent ξ̄ (n_elements,) of the printed densities.

        Layer k's printed densities depend on its blueprint and on layer k − 1's printed
        densities, so the cotangent reaching layer k is ξ̄_k + λ_k, where λ_k collects what the
        layers above pull back through their smooth maxima; it is passed down one layer at a
        time. Everything that does not depend on λ is computed for all layers at once.
        """
        x, xi, bar = self._to_layers(blueprint), self._to_layers(printed), self._to_layers(printed_bar)
        if len(x) == 1:
            return self._from_layers(bar)
        base = xi[:-1] + self.shift                        # supports of layers 1… (the layers 0…)
        powered_less = base ** (self.p - 1.0)              # ∂(·)^P/∂ξ / P
        keep = self._stencil_sum(self._pad(powered_less * base, self.shift ** self.p))
        smax = keep ** (1.0 / self.q) - self.backshift
        d = x[1:] - smax
        ratio = d / np.sqrt(d * d + self.epsilon)
        d_x = 0.5 * (1.0 - ratio)                          # ∂smin/∂x
        # ∂smin/∂smax · ∂smax/∂keep · P (P from ∂(ξ + SHIFT)^P/∂ξ, applied per support below)
        d_keep = 0.5 * (1.0 + ratio) * (self.p / self.q) * keep ** (1.0 / self.q - 1.0)
        x_bar = np.empty_like(x)
        lam = np.zeros_like(x[0])
        padded = np.zeros((x.shape[1] + 2, x.shape[2] + 2))
        for layer in range(len(x) - 1, 0, -1):
            total = bar[layer] + lam
            x_bar[layer] = total * d_x[layer - 1]
            padded[1:-1, 1:-1] = total * d_keep[layer - 1]
            lam = powered_less[layer - 1] * self._stencil_sum(padded)
        x_bar[0] = bar[0] + lam
        return self._from_layers(x_bar)

    # -- printability ------------------------------------------------------------------------

    def unsupported(self, rho: np.ndarray, threshold: float = 0.5) -> np.ndarray:
        """(n_elements,) bool: the solid elements (ρ > threshold) above the base layer with no
        solid element among their supports in the layer below — what a printer could not
        build without support structures."""
        solid = self._to_layers(rho) > threshold
        below = self._pad(solid[:-1].astype(float), 0.0)
        supported = self._stencil_sum(below) > 0
        mask = np.zeros_like(solid)
        mask[1:] = solid[1:] & ~supported
        return self._from_layers(mask.astype(float)) > 0.5

    def base_layer(self) -> np.ndarray:
        """(n_elements,) bool: the elements of the base layer (on the baseplate)."""
        layers = np.zeros(self._to_layers(np.zeros(int(np.prod(self.grid)))).shape)
        layers[0] = 1.0
        return self._from_layers(layers) > 0.5


class IdentityOverhang:
    """No AM filter: the printed design is the blueprint (the interface of :class:`OverhangFilter`)."""

    active = False

    def apply(self, blueprint):
        return blueprint

    def vjp(self, blueprint, printed, printed_bar):
        return printed_bar
