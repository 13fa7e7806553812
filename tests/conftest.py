"""Shared fixtures and settings (exspy-style: Agg backend, no progress bars)."""

import os
import warnings
from pathlib import Path

import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import hyperspy.api as hs  # noqa: E402

import hyperspy_eels_ml  # noqa: E402,F401  (attaches the methods)

hs.preferences.General.show_progressbar = False
warnings.filterwarnings("ignore", message=".*n_jobs value.*")

#: Real spectra for the real-data tests: ``$HYPERSPY_EELS_ML_DATA`` or ``../shared/data`` next to the clone.
SHARED_DATA = Path(os.environ.get("HYPERSPY_EELS_ML_DATA",
                                  Path(__file__).resolve().parent.parent.parent / "shared" / "data"))


def pytest_configure(config):
    config.addinivalue_line("markers", "real_data: reads real spectra from $HYPERSPY_EELS_ML_DATA or ../shared/data")


@pytest.fixture(scope="session")
def shared_data():
    """Folder of the real development spectra (a Path); the test is skipped when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data not found at {SHARED_DATA} (set HYPERSPY_EELS_ML_DATA)")
    return SHARED_DATA


def pytest_collection_modifyitems(config, items):
    for item in items:
        if "shared_data" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.real_data)


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    """One line saying how many real-data tests ran (they skip without the data)."""
    stats = terminalreporter.stats
    ran = sum(1 for key in ("passed", "failed") for rep in stats.get(key, [])
              if "real_data" in getattr(rep, "keywords", {}))
    skipped = sum(1 for rep in stats.get("skipped", []) if "real_data" in getattr(rep, "keywords", {}))
    where = SHARED_DATA if SHARED_DATA.is_dir() else f"{SHARED_DATA} (absent; set HYPERSPY_EELS_ML_DATA)"
    terminalreporter.write_line(f"real-data tests: {ran} ran, {skipped} skipped; data: {where}")


def pytest_sessionfinish(session, exitstatus):
    """Fail the run when no test actually ran (nothing collected or all skipped)."""
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is None or exitstatus not in (0,):
        return
    passed = len(reporter.stats.get("passed", []))
    if passed == 0:
        session.exitstatus = 1
        reporter.write_line("ERROR: no test passed (none collected or all skipped); failing the run.", red=True)


@pytest.fixture(scope="session")
def phantom():
    """3-phase core-loss SI with a 60 % thickness gradient, Poisson noise and vacuum."""
    from hyperspy_eels_ml.simulation import multiphase_core_loss_si

    return multiphase_core_loss_si((48, 64), n_channels=256, seed=1)


@pytest.fixture
def small_eels():
    from exspy.signals import EELSSpectrum

    rng = np.random.default_rng(0)
    s = EELSSpectrum(rng.poisson(100, (4, 5, 64)).astype(np.float32))
    ax = s.axes_manager.signal_axes[0]
    ax.units, ax.scale, ax.offset = "eV", 0.5, 400.0
    return s


@pytest.fixture(params=["eager", "lazy"])
def lazy(request):
    """Run a test for eager and for lazy input: True for the lazy run."""
    return request.param == "lazy"


def _make_eels(shape=(4, 5), n_channels=64, offset=400.0, scale=0.5, units="eV", dtype=np.float32, lazy=False,
               counts=100.0, seed=0, nonuniform=False, signal_type="EELS"):
    """A small calibrated EELS signal (Poisson counts on a gentle power-law background)."""
    from exspy.signals import EELSSpectrum
    from hyperspy.signals import Signal1D

    rng = np.random.default_rng(seed)
    e = offset + scale * np.arange(n_channels)
    bg = counts * (e / e[0]) ** -3.0 if offset > 0 else np.full(n_channels, counts)
    data = rng.poisson(np.broadcast_to(bg, tuple(shape) + (n_channels,))).astype(dtype)
    if nonuniform:
        axes = [dict(size=n, navigate=True) for n in shape]
        axes.append(dict(axis=e + 0.01 * np.arange(n_channels) ** 2, units=units, navigate=False))
        s = Signal1D(data, axes=axes)
        s.set_signal_type(signal_type)
    else:
        s = EELSSpectrum(data) if signal_type == "EELS" else Signal1D(data)
        ax = s.axes_manager.signal_axes[0]
        ax.units, ax.scale, ax.offset = units, scale, offset
    return s.as_lazy() if lazy else s


@pytest.fixture
def make_eels():
    """Factory of small calibrated EELS signals: ``make_eels(shape=(4, 5), n_channels=64, offset=400, ...)``."""
    return _make_eels


@pytest.fixture
def check_fault():
    """Run one fault case: the call raises ``exc`` matching ``match`` and never modifies the input.

    ``check_fault(func, signal, kwargs, exc, match)``; ``signal`` may be anything (bad types too).
    """

    def check(func, signal, kwargs, exc, match):
        data = getattr(signal, "data", None)
        before = None
        if isinstance(data, np.ndarray):
            before = data.copy()
        meta = signal.metadata.as_dictionary() if hasattr(signal, "metadata") else None
        with pytest.raises(exc, match=match):
            func(signal, **kwargs)
        if before is not None:
            np.testing.assert_array_equal(signal.data, before)  # input never modified
        if meta is not None:
            assert signal.metadata.as_dictionary().keys() == meta.keys()

    return check
