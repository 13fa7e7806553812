"""HyperSpy components of the ZLP capability."""

from __future__ import annotations

import functools

import numpy as np
from hyperspy._components.expression import Expression

__all__ = ["BandGap"]


class BandGap(Expression):
    r"""Band-gap onset of a low-loss spectrum, usable in ``EELSModel``.

    .. math::

        I(E) = A\,(E - E_g)^b \quad (E > E_g), \qquad 0 \quad (E \le E_g)

    ``b = 0.5`` for a direct and ``b = 1.5`` for an indirect gap (Rafferty and
    Brown, Phys. Rev. B 58 (1998) 10326); leave ``b`` free to fit it. A HyperSpy
    :class:`~hyperspy.components1d.Expression` whose amplitude ``A`` is a linear
    parameter (``m.fit(optimizer="lstsq")`` / ``m.multifit(linear=True)`` work when
    ``Eg`` and ``b`` are fixed).

    Parameters
    ----------
    A : float
        Amplitude at ``E - Eg = 1`` eV, >= 0 (counts per eV for binned signals,
        EELS' default: HyperSpy multiplies binned components by the channel width).
    Eg : float
        Gap energy (eV), >= 0.
    b : float
        Onset exponent (0.1-4).
    **kwargs
        Passed to :class:`~hyperspy.components1d.Expression`.

    Examples
    --------
    >>> from hyperspy_eels_ml.zlp import BandGap
    >>> m = result.inelastic.create_model(auto_background=False)  # doctest: +SKIP
    >>> m.append(BandGap(Eg=1.5, b=0.5)); m[-1].b.free = False      # doctest: +SKIP
    >>> m.fit(bounded=True)                                          # doctest: +SKIP
    """

    _id_name = "0f6f3b5e-3d1c-4c7e-9a55-2b8e3f1d6a42"

    def __init__(self, A=1.0, Eg=1.0, b=0.5, module="numpy", **kwargs):
        super().__init__(expression="Piecewise((A * (x - Eg) ** b, x > Eg), (0, True))", name="BandGap",
                         A=A, Eg=Eg, b=b, position="Eg", module=module, autodoc=False, **kwargs)
        self._id_name = BandGap._id_name
        self.A.bmin, self.Eg.bmin, self.b.bmin, self.b.bmax = 0.0, 0.0, 0.1, 4.0
        self.isbackground = False
        self.convolved = False
        # numpy evaluates both branches of the Piecewise: silence the (discarded) E <= Eg branch
        self.function = _quiet(self.function)  # Expression sets ``function`` on the instance
        for par in self.parameters:
            if par.grad is not None:
                par.grad = _quiet(par.grad)

    def function_nd(self, axis):
        """Vectorised over the navigation space."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.nan_to_num(super().function_nd(axis))


def _quiet(f):
    @functools.wraps(f)
    def g(*args, **kwargs):
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.nan_to_num(f(*args, **kwargs))

    return g
