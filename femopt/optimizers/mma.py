"""Method of Moving Asymptotes (MMA).

Implements the optimizer of K. Svanberg, "The method of moving asymptotes -
a new method for structural optimization", IJNME 24 (1987), in the form given
in Svanberg's note "MMA and GCMMA - two methods for nonlinear optimization"
(2007).  The problem solved is

    minimize    f_0(x) + a0 z + sum_i (c_i y_i + d_i y_i^2 / 2)
    subject to  f_i(x) - a_i z - y_i <= 0,   i = 1..m
                lower <= x <= upper,   y >= 0,   z >= 0

where the artificial variables y, z (with large c_i) make every subproblem
feasible; with a0 = 1, a_i = 0 this is the ordinary problem
"minimize f_0 s.t. f_i <= 0" whenever that problem is feasible.

Each :meth:`MMA.step` builds a convex separable approximation around the
current design and solves it with the note's primal-dual interior-point
method.  Every array touched is O(n m), so n ~ 1e5-1e6 is cheap for small m.
"""
import numpy as np

from femopt.optimizers.base import Optimizer

__all__ = ["MMA", "kkt_residual"]

_RAA0 = 1e-5      # keeps p, q > 0 (strictly convex subproblem) when df = 0
_ALBEFA = 0.1     # alpha/beta stay this fraction away from the asymptotes


class MMA(Optimizer):
    """MMA optimizer keeping its own history (two past designs, asymptotes).

    ``STATE`` names what a checkpoint keeps; the last subproblem's duals are left out
    (only :meth:`kkt_residual` reads them, after the next step).

    Parameters
    ----------
    lower, upper : float or (n,) array
        Box bounds, ``lower < upper`` elementwise.
    move : float
        Move limit as a fraction of ``upper - lower``.
    normalize_objective : bool
        Divide the objective by its magnitude at the first step.
    asymptote_init, asymptote_increase, asymptote_decrease : float
        Initial asymptote distance (fraction of the box) and the factors
        used to widen / narrow it when iterates move monotonically /
        oscillate.
    a0, a, c, d : float, float or (m,) arrays
        Coefficients of the artificial variables z, y (see module docstring).
        ``a`` defaults to 0.
    """

    STATE = ("iteration", "xold1", "xold2", "low", "upp", "multipliers", "objective_scale")

    def __init__(self, lower, upper, move=0.5, asymptote_init=0.5,
                 asymptote_increase=1.2, asymptote_decrease=0.7,
                 a0=1.0, a=None, c=1000.0, d=1.0, normalize_objective=False):
        self.lower = np.asarray(lower, dtype=float)
        self.upper = np.asarray(upper, dtype=float)
        if np.any(self.upper <= self.lower):
            raise ValueError("MMA needs lower < upper for every variable")
        self.move = move
        self.asyinit = asymptote_init
        self.asyincr = asymptote_increase
        self.asydecr = asymptote_decrease
        self.a0 = float(a0)
        self.a = 0.0 if a is None else a
        self.c, self.d = c, d
        self.iteration = 0
        self.xold1 = self.xold2 = None
        self.low = self.upp = None
        self.multipliers = None   # (m,) lambda of the last subproblem
        self.normalize_objective = normalize_objective
        self.objective_scale = None  # 1/|f0(x_first)| when normalizing, else 1
        self._duals = None        # (y, z, lam, xsi, eta, mu, zet, s)

    def _coefficients(self, m):
        """Broadcast a, c, d to (m,) arrays."""
        return tuple(np.broadcast_to(np.asarray(v, dtype=float), (m,))
                     for v in (self.a, self.c, self.d))

    def step(self, x, objective, gradient, constraints=None,
             constraint_gradients=None):
        """Return the next design (n,) within the bounds.

        x : (n,) current design; objective : f_0(x); gradient : (n,) df_0/dx;
        constraints : (m,) f_i(x), feasible when <= 0; constraint_gradients :
        (m, n) df_i/dx. With ``normalize_objective`` the objective is divided by
        |f_0| of the first step, so that the multipliers stay well below c
        whatever its units (``multipliers`` then refer to the scaled problem).
        """
        x = np.asarray(x, dtype=float)
        n = x.size
        xmin = np.broadcast_to(self.lower, x.shape)
        xmax = np.broadcast_to(self.upper, x.shape)
        x = np.clip(x, xmin, xmax)   # the subproblem box assumes x in bounds
        g, dg = _as_constraints(constraints, constraint_gradients, n)
        if self.objective_scale is None:  # first step
            size = abs(objective) or np.max(np.abs(gradient), initial=0.0)
            self.objective_scale = 1.0 / size if self.normalize_objective and size > 0 else 1.0
        df = np.asarray(gradient, dtype=float) * self.objective_scale
        span = xmax - xmin
        self.iteration += 1

        # Moving asymptotes: widen while x moves monotonically (faster),
        # narrow when it oscillates (more conservative / stabilising).
        if self.iteration <= 2:
            low = x - self.asyinit * span
            upp = x + self.asyinit * span
        else:
            trend = (x - self.xold1) * (self.xold1 - self.xold2)
            gamma = np.where(trend > 0, self.asyincr,
                             np.where(trend < 0, self.asydecr, 1.0))
            low = x - gamma * (self.xold1 - self.low)
            upp = x + gamma * (self.upp - self.xold1)
            low = np.clip(low, x - 10.0 * span, x - 0.01 * span)
            upp = np.clip(upp, x + 0.01 * span, x + 10.0 * span)

        # Subproblem box: inside the asymptotes, the move limit and the bounds.
        alpha = np.maximum.reduce([xmin, low + _ALBEFA * (x - low),
                                   x - self.move * span])
        beta = np.minimum.reduce([xmax, upp - _ALBEFA * (upp - x),
                                  x + self.move * span])

        # Convex approximations f_i ~ sum_j p_ij/(upp-x_j) + q_ij/(x_j-low)+r_i;
        # the 1.001/0.001 split and raa0 make the approximation strictly convex.
        ux, xl = upp - x, x - low
        reg = _RAA0 / span

        def pq(grad):
            pos, neg = np.maximum(grad, 0.0), np.maximum(-grad, 0.0)
            return (ux ** 2 * (1.001 * pos + 0.001 * neg + reg),
                    xl ** 2 * (0.001 * pos + 1.001 * neg + reg))

        p0, q0 = pq(df)
        P, Q = pq(dg)
        b = P @ (1.0 / ux) + Q @ (1.0 / xl) - g     # b = -r_i

        a, c, d = self._coefficients(g.size)
        sol = _subsolve(p0, q0, P, Q, b, low, upp, alpha, beta,
                        self.a0, a, c, d)
        x_new = sol[0]
        self._duals = sol[1:]
        self.multipliers = sol[3].copy()
        self.xold2, self.xold1 = self.xold1, x.copy()
        self.low, self.upp = low, upp
        return np.clip(x_new, xmin, xmax)   # guard against round-off

    def kkt_residual(self, x, gradient, constraints=None,
                     constraint_gradients=None):
        """KKT residual norm of the original problem at the last step's result.

        Call with x = the design returned by the last :meth:`step` and the
        derivatives evaluated there; uses that step's subproblem multipliers.
        """
        if self._duals is None:
            raise RuntimeError("call step() first")
        x = np.asarray(x, dtype=float)
        g, dg = _as_constraints(constraints, constraint_gradients, x.size)
        a, c, d = self._coefficients(g.size)
        return kkt_residual(x, *self._duals,
                            np.broadcast_to(self.lower, x.shape),
                            np.broadcast_to(self.upper, x.shape),
                            gradient, g, dg, self.a0, a, c, d)


def _as_constraints(constraints, constraint_gradients, n):
    """(m,) values and (m, n) gradients; None means no constraints (m = 0)."""
    if constraints is None:
        return np.zeros(0), np.zeros((0, n))
    g = np.atleast_1d(np.asarray(constraints, dtype=float))
    return g, np.asarray(constraint_gradients, dtype=float).reshape(g.size, n)


def kkt_residual(x, y, z, lam, xsi, eta, mu, zet, s, lower, upper,
                 gradient, constraints, constraint_gradients,
                 a0=1.0, a=0.0, c=1000.0, d=1.0):
    """Euclidean norm of the KKT residual of the original (non-approximated)
    problem, as in the note's ``kktcheck``.

    x, xsi, eta, lower, upper, gradient : (n,); y, lam, mu, s, constraints,
    a, c, d : (m,); constraint_gradients : (m, n); z, zet, a0 : scalars.
    xsi / eta are the multipliers of x >= lower / x <= upper, mu / zet those
    of y >= 0 / z >= 0, and s the slacks of the constraints.
    """
    dg = np.asarray(constraint_gradients, dtype=float)
    res = [np.asarray(gradient) + lam @ dg - xsi + eta,
           c + d * y - mu - lam,
           [a0 - zet - np.dot(a, lam)],
           np.asarray(constraints) - a * z - y + s,
           xsi * (x - lower), eta * (upper - x), mu * y, [zet * z], lam * s]
    return float(np.linalg.norm(np.concatenate(res)))


def _subsolve(p0, q0, P, Q, b, low, upp, alpha, beta, a0, a, c, d,
              epsimin=1e-7, max_newton=200):
    """Primal-dual interior-point solve of the MMA subproblem.

    p0, q0, low, upp, alpha, beta : (n,); P, Q : (m, n); b, a, c, d : (m,).
    Returns (x, y, z, lam, xsi, eta, mu, zet, s) at the optimum.  The
    relaxed complementarity eps is driven 1 -> epsimin by factors 0.1.
    """
    m, n = P.shape
    x = 0.5 * (alpha + beta)
    y, lam, s = np.ones(m), np.ones(m), np.ones(m)
    z, zet = 1.0, 1.0
    xsi = np.maximum(1.0, 1.0 / (x - alpha))
    eta = np.maximum(1.0, 1.0 / (beta - x))
    mu = np.maximum(1.0, 0.5 * c)

    def residual(v, eps):
        x, y, z, lam, xsi, eta, mu, zet, s = v
        ux, xl = upp - x, x - low
        plam, qlam = p0 + lam @ P, q0 + lam @ Q
        return np.concatenate([
            plam / ux ** 2 - qlam / xl ** 2 - xsi + eta,
            c + d * y - mu - lam,
            [a0 - zet - a @ lam],
            P @ (1 / ux) + Q @ (1 / xl) - a * z - y + s - b,
            xsi * (x - alpha) - eps, eta * (beta - x) - eps,
            mu * y - eps, [zet * z - eps], lam * s - eps])

    v = (x, y, z, lam, xsi, eta, mu, zet, s)
    eps = 1.0
    while eps > 0.9 * epsimin:
        r = residual(v, eps)
        rnorm, rmax = np.linalg.norm(r), np.abs(r).max()
        for _ in range(max_newton):
            if rmax <= 0.9 * eps:
                break
            dv = _newton_direction(v, eps, p0, q0, P, Q, b, low, upp,
                                   alpha, beta, a0, a, c, d)
            x, y, z, lam, xsi, eta, mu, zet, s = v
            dx = dv[0]
            # Largest step (times 1/1.01) keeping all of y, z, lam, xsi, eta,
            # mu, zet, s and x - alpha, beta - x strictly positive.
            pos = np.concatenate([np.atleast_1d(w) for w in v[1:]])
            dpos = np.concatenate([np.atleast_1d(w) for w in dv[1:]])
            ratio = max(1.0, np.max(-1.01 * dpos / pos, initial=0.0),
                        np.max(-1.01 * dx / (x - alpha)),
                        np.max(1.01 * dx / (beta - x)))
            t = 1.0 / ratio
            # Backtrack until the residual norm decreases.
            for _ in range(50):
                trial = tuple(w + t * dw for w, dw in zip(v, dv))
                r = residual(trial, eps)
                if np.linalg.norm(r) <= rnorm:
                    break
                t *= 0.5
            v = trial
            rnorm, rmax = np.linalg.norm(r), np.abs(r).max()
        eps *= 0.1
    return v


def _newton_direction(v, eps, p0, q0, P, Q, b, low, upp, alpha, beta,
                      a0, a, c, d):
    """Newton step of the eps-relaxed KKT system, eliminated down to an
    (m+1) x (m+1) system in (lam, z) when m < n, else (n+1) x (n+1) in (x, z).
    """
    x, y, z, lam, xsi, eta, mu, zet, s = v
    m, n = P.shape
    ux, xl = upp - x, x - low
    xa, bx = x - alpha, beta - x
    plam, qlam = p0 + lam @ P, q0 + lam @ Q
    G = P / ux ** 2 - Q / xl ** 2                    # (m, n) Jacobian of g~
    delx = plam / ux ** 2 - qlam / xl ** 2 - eps / xa + eps / bx
    dely = c + d * y - lam - eps / y
    delz = a0 - a @ lam - eps / z
    dellam = P @ (1 / ux) + Q @ (1 / xl) - a * z - y - b + eps / lam
    diagx = 2 * (plam / ux ** 3 + qlam / xl ** 3) + xsi / xa + eta / bx
    diagy = d + mu / y
    diaglamyi = s / lam + 1.0 / diagy
    if m < n:
        # Schur complement on x: O(n m^2) work, never an n x n array.
        Gs = G / diagx
        A = np.empty((m + 1, m + 1))
        A[:m, :m] = Gs @ G.T + np.diag(diaglamyi)
        A[:m, m] = A[m, :m] = a
        A[m, m] = -zet / z
        rhs = np.append(dellam + dely / diagy - Gs @ delx, delz)
        sol = np.linalg.solve(A, rhs)
        dlam, dz = sol[:m], sol[m]
        dx = -delx / diagx - dlam @ Gs
    else:
        # Schur complement on lam: dense (n+1) x (n+1), only used when n <= m.
        dellamyi = dellam + dely / diagy
        Gw = G / diaglamyi[:, None]
        A = np.empty((n + 1, n + 1))
        A[:n, :n] = np.diag(diagx) + G.T @ Gw
        A[:n, n] = A[n, :n] = -(a / diaglamyi) @ G
        A[n, n] = zet / z + a @ (a / diaglamyi)
        rhs = -np.append(delx + dellamyi @ Gw, delz - a @ (dellamyi / diaglamyi))
        sol = np.linalg.solve(A, rhs)
        dx, dz = sol[:n], sol[n]
        dlam = (G @ dx - a * dz + dellamyi) / diaglamyi
    dy = (dlam - dely) / diagy
    dxsi = -xsi + (eps - xsi * dx) / xa
    deta = -eta + (eps + eta * dx) / bx
    dmu = -mu + (eps - mu * dy) / y
    dzet = -zet + (eps - zet * dz) / z
    ds = -s + (eps - s * dlam) / lam
    return (dx, dy, dz, dlam, dxsi, deta, dmu, dzet, ds)
