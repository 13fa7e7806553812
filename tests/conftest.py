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
