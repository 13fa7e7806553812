"""HyperSpy components of the ZLP capability."""

from __future__ import annotations

import functools

import numpy as np
from hyperspy._components.expression import Expression

__all__ = ["BandGap", "DrudePlasmon"]


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


class DrudePlasmon(Expression):
    r"""Bulk plasmon as the Drude energy-loss function, usable in ``EELSModel``.

    .. math::

        I(E) = A\,\frac{E\,\Gamma\,E_p^2}{(E^2 - E_p^2)^2 + (E\,\Gamma)^2}, \qquad \Gamma = \mathrm{width}

    (Egerton, *Electron Energy-Loss Spectroscopy in the Electron Microscope*,
    3rd ed., eq. 3.43). :meth:`~hyperspy_eels_ml.zlp.ZLPResult.fit_plasmon` fits
    the same function (times the angular factor when the microscope parameters
    are known) with a vectorised least-squares over all replicas and pixels.

    Parameters
    ----------
    A : float
        Amplitude (>= 0).
    Ep : float
        Plasmon energy (eV).
    width : float
        Width ``Gamma`` (eV, > 0; the parameter cannot be called ``gamma``, a sympy function).
    """

    _id_name = "5d0c2a43-9b1e-4a57-8f39-1c7a2e6b90d4"

    def __init__(self, A=1.0, Ep=15.0, width=4.0, module="numpy", **kwargs):
        super().__init__(expression="A * x * width * Ep ** 2 / ((x ** 2 - Ep ** 2) ** 2 + (x * width) ** 2)",
                         name="DrudePlasmon", A=A, Ep=Ep, width=width, position="Ep", module=module,
                         autodoc=False, **kwargs)
        self._id_name = DrudePlasmon._id_name
        self.A.bmin, self.Ep.bmin, self.width.bmin = 0.0, 0.0, 1e-3
        self.isbackground = False
        self.convolved = False


def _quiet(f):
    @functools.wraps(f)
    def g(*args, **kwargs):
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.nan_to_num(f(*args, **kwargs))

    return g
