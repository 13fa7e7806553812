"""Shared fixtures and settings (exspy-style: Agg backend, no progress bars)."""

import os
import warnings

import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import hyperspy.api as hs  # noqa: E402

import hyperspy_eels_ml  # noqa: E402,F401  (attaches the methods)

hs.preferences.General.show_progressbar = False
warnings.filterwarnings("ignore", message=".*n_jobs value.*")

SHARED_DATA = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data")


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
