"""HyperSpy components of the ZLP capability."""

from __future__ import annotations

import numpy as np
from hyperspy.component import Component

__all__ = ["BandGap"]


class BandGap(Component):
    r"""Band-gap onset of a low-loss spectrum, usable in ``EELSModel``.

    .. math::

        I(E) = A\,(E - E_g)^b \quad (E > E_g), \qquad 0 \quad (E \le E_g)

    ``b = 0.5`` for a direct and ``b = 1.5`` for an indirect gap (Rafferty and
    Brown, Phys. Rev. B 58 (1998) 10326); leave ``b`` free to fit it.

    Parameters
    ----------
    A : float
        Amplitude (counts per channel at ``E - Eg = 1`` eV).
    Eg : float
        Gap energy (eV).
    b : float
        Onset exponent.

    Examples
    --------
    >>> from hyperspy_eels_ml.zlp import BandGap
    >>> m = result.inelastic.create_model(auto_background=False)  # doctest: +SKIP
    >>> m.append(BandGap(Eg=1.5, b=0.5)); m[-1].b.free = False      # doctest: +SKIP
    >>> m.fit(bounded=True)                                          # doctest: +SKIP
    """

    _id_name = "0f6f3b5e-3d1c-4c7e-9a55-2b8e3f1d6a42"

    def __init__(self, A=1.0, Eg=1.0, b=0.5):
        super().__init__(("A", "Eg", "b"), ["A", "Eg", "b"])
        self._id_name = BandGap._id_name
        self.A.value, self.Eg.value, self.b.value = A, Eg, b
        self.A.bmin, self.b.bmin, self.b.bmax = 0.0, 0.1, 4.0
        self.Eg.bmin = 0.0
        self.isbackground = False
        self.convolved = False
        self.A.grad = self.grad_A
        self.Eg.grad = self.grad_Eg
        self.b.grad = self.grad_b

    def function(self, x):
        x = np.asarray(x, dtype=float)
        d = np.clip(x - self.Eg.value, 0.0, None)
        return self.A.value * d ** self.b.value

    def function_nd(self, axis):
        """Vectorised over the navigation space (``multifit``-free evaluation)."""
        if self._is_navigation_multidimensional:
            x = axis[np.newaxis, :]
            A, Eg, b = (p.map["values"][..., np.newaxis] for p in (self.A, self.Eg, self.b))
        else:
            x, A, Eg, b = axis, self.A.value, self.Eg.value, self.b.value
        d = np.clip(x - Eg, 0.0, None)
        return A * d**b

    def grad_A(self, x):
        d = np.clip(np.asarray(x, float) - self.Eg.value, 0.0, None)
        return d**self.b.value

    def grad_Eg(self, x):
        d = np.clip(np.asarray(x, float) - self.Eg.value, 0.0, None)
        with np.errstate(divide="ignore", invalid="ignore"):
            g = -self.A.value * self.b.value * np.where(d > 0, d ** (self.b.value - 1), 0.0)
        return g

    def grad_b(self, x):
        d = np.clip(np.asarray(x, float) - self.Eg.value, 0.0, None)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(d > 0, self.A.value * d**self.b.value * np.log(np.where(d > 0, d, 1.0)), 0.0)
