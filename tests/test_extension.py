"""Packaging and HyperSpy registration: entry point, yaml, wheel contents, import."""

import importlib.metadata
import json
import os
import re
import subprocess
import sys
import uuid
import zipfile
from pathlib import Path

import pytest
import yaml

import hyperspy_eels_ml

PKG = Path(hyperspy_eels_ml.__file__).parent
ROOT = PKG.parent
ALLOWED_KEYS = {"signals", "components1D", "components2D", "GUI"}


def _yaml():
    with open(PKG / "hyperspy_extension.yaml") as f:
        return yaml.safe_load(f)


def _python(*args):
    """Run ``python *args`` in a fresh interpreter; assert it succeeded and return the completed process."""
    out = subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    return out


def test_version():
    assert re.match(r"^\d+\.\d+", hyperspy_eels_ml.__version__)
    assert importlib.metadata.version("hyperspy_eels_ml") == hyperspy_eels_ml.__version__


def test_entry_point_name_equals_import_name():
    eps = [e for e in importlib.metadata.entry_points(group="hyperspy.extensions") if e.value == "hyperspy_eels_ml"]
    assert [e.name for e in eps] == ["hyperspy_eels_ml"]


def test_yaml_structure():
    d = _yaml()
    assert isinstance(d, dict)
    assert set(d) <= ALLOWED_KEYS
    # never claim another package's signal type
    for name, spec in (d.get("signals") or {}).items():
        assert spec["signal_type"].upper() not in {"EELS", "TEM EELS"}, name
    for group in ("components1D", "components2D"):
        for key, spec in (d.get(group) or {}).items():
            assert str(uuid.UUID(key, version=4)) == key
            assert set(spec) == {"module", "class"}
            mod = __import__(spec["module"], fromlist=[spec["class"]])
            comp = getattr(mod, spec["class"])()
            assert comp._id_name == key
    for key in (d.get("GUI") or {}).get("toolkeys", []):
        assert key.startswith("hyperspy_eels_ml.")


def test_hyperspy_api_imports_with_extension():
    code = (
        "import hyperspy.api as hs\n"
        "from hyperspy.extensions import ALL_EXTENSIONS\n"
        "import importlib.metadata as m\n"
        "assert 'hyperspy_eels_ml' in [e.name for e in m.entry_points(group='hyperspy.extensions')]\n"
        "s = hs.signals.Signal1D([1., 2., 3.]); s.set_signal_type('EELS')\n"
        "import hyperspy_eels_ml\n"
        "assert hasattr(s, 'umap_cluster')\n"
        "print('ok')\n"
    )
    out = _python("-c", code)
    assert "ok" in out.stdout


def test_import_does_not_load_heavy_libraries():
    code = (
        "import sys, hyperspy_eels_ml\n"
        "heavy = [m for m in ('tensorflow', 'umap', 'hdbscan', 'keras', 'pynndescent') if m in sys.modules]\n"
        "print(heavy)\n"
    )
    out = _python("-c", code)
    assert out.stdout.strip() == "[]"


def test_import_is_quiet():
    """A first ``import hyperspy_eels_ml`` prints nothing: exspy's HyperSpy deprecation chatter is silenced."""
    out = _python("-W", "default", "-c", "import hyperspy_eels_ml")
    assert out.stderr == "" and out.stdout == "", out.stderr


def test_import_silences_only_exspy_deprecations():
    """The filter is local to exspy's import: no filter of ours is left behind, the same warning still shows later."""
    code = (
        "import warnings, hyperspy_eels_ml\n"
        "assert not [f for f in warnings.filters if f[1] is not None and '_signals' in f[1].pattern]\n"
        "from hyperspy.exceptions import VisibleDeprecationWarning\n"
        "with warnings.catch_warnings(record=True) as w:\n"
        "    warnings.simplefilter('always')\n"
        "    warnings.warn('Importing `X` from `hyperspy._signals.y` is deprecated', VisibleDeprecationWarning)\n"
        "assert len(w) == 1\n"
        "print('ok')\n"
    )
    out = _python("-c", code)
    assert out.stdout.strip() == "ok"


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    if not (ROOT / "pyproject.toml").exists():
        pytest.skip("not running from a source checkout")
    out = tmp_path_factory.mktemp("wheel")
    r = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-w", str(out), str(ROOT)],
        capture_output=True, text=True, timeout=600,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    (whl,) = out.glob("hyperspy_eels_ml-*.whl")
    return whl


def test_wheel_contains_yaml_and_package_data(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "hyperspy_eels_ml/hyperspy_extension.yaml" in names
    assert "hyperspy_eels_ml/models/registry.json" in names
    registry = json.loads((PKG / "models" / "registry.json").read_text())
    for entry in registry["models"]:
        for f in entry["files"]:
            assert f"hyperspy_eels_ml/models/{f}" in names, f
    assert "hyperspy_eels_ml/simulation/data/edge_table.npz" in names
    # every package-data file of the source tree is in the wheel
    for f in list((PKG / "models").rglob("*")) + list((PKG / "simulation" / "data").rglob("*")):
        if f.is_file() and "__pycache__" not in f.parts:
            assert f"hyperspy_eels_ml/{f.relative_to(PKG).as_posix()}" in names
    ep = [n for n in names if n.endswith("entry_points.txt")]
    txt = zipfile.ZipFile(wheel).read(ep[0]).decode()
    assert "[hyperspy.extensions]" in txt and "hyperspy_eels_ml = hyperspy_eels_ml" in txt


def test_installed_wheel_registers_with_hyperspy(wheel, tmp_path):
    target = tmp_path / "site"
    r = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--target", str(target), str(wheel)],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    code = (
        "import hyperspy.api as hs, hyperspy_eels_ml, pathlib\n"
        f"assert pathlib.Path(hyperspy_eels_ml.__file__).is_relative_to({str(target)!r}), hyperspy_eels_ml.__file__\n"
        "assert (pathlib.Path(hyperspy_eels_ml.__file__).parent / 'hyperspy_extension.yaml').exists()\n"
        "print('ok')\n"
    )
    env = dict(os.environ, PYTHONPATH=str(target))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300,
                         cwd=str(tmp_path))
    assert out.returncode == 0, out.stderr
    assert "ok" in out.stdout
