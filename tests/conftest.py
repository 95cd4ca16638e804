"""Shared fixtures for the gatedrnn test suite.

* ``isa``: runs a test once per ISA name ("scalar", "avx2", "avx512"); an ISA the
  CPU (or the build) lacks is reported as skipped. The previously selected ISA is
  restored afterwards.
* ``rng``: a NumPy Generator seeded from the test's node id, so every test draws
  the same data on every run but different tests draw different data.
* ``assert_close``: float32 results against the float64 reference with a bound
  derived from the dot-product length K (see ``tolerance``).
"""

import zlib

import numpy as np
import pytest

ALL_ISAS = ("scalar", "avx2", "avx512")


def pytest_report_header(config):
    try:
        import gatedrnn

        return (
            f"gatedrnn {getattr(gatedrnn, '__version__', '?')} from {gatedrnn.__file__}: "
            f"available ISAs {gatedrnn.available_isas()}, selected {gatedrnn.selected_isa()!r}, "
            f"threads {gatedrnn.get_num_threads()}"
        )
    except Exception as exc:  # the header must never break collection
        return f"gatedrnn: could not query ({exc!r})"


@pytest.fixture(params=ALL_ISAS, ids=ALL_ISAS)
def isa(request):
    """Select one ISA for the duration of the test, skip if unavailable."""
    import gatedrnn

    name = request.param
    available = gatedrnn.available_isas()
    if name not in available:
        pytest.skip(f"ISA {name!r} not available on this machine (available: {available})")
    previous = gatedrnn.selected_isa()
    gatedrnn.set_isa(name)
    try:
        assert gatedrnn.selected_isa() == name
        yield name
    finally:
        gatedrnn.set_isa(previous)


@pytest.fixture
def rng(request):
    """Deterministic per-test random generator."""
    return np.random.default_rng(zlib.crc32(request.node.nodeid.encode()))


def tolerance(K):
    """Absolute tolerance for a float32 result against the float64 reference.

    Every gate pre-activation is a float32 dot product of length K (input plus
    recurrent width, plus the projection), followed by sigmoid/tanh whose
    absolute error may be up to 1e-6, and errors are carried through the
    recurrence. 1e-5 covers K <= 64; beyond that the accumulation error grows
    like sqrt(K) (random rounding), so the bound grows the same way.
    """
    return 1e-5 * max(1.0, float(np.sqrt(K / 64.0)))


def _assert_close(actual, expected, K, what=""):
    expected = np.asarray(expected)
    assert isinstance(actual, np.ndarray), f"{what}: expected a numpy array, got {type(actual)}"
    assert actual.dtype == np.float32, f"{what}: dtype {actual.dtype}, expected float32"
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape}, expected {expected.shape}"
    np.testing.assert_allclose(
        actual.astype(np.float64), expected, rtol=1e-5, atol=tolerance(K), err_msg=what
    )


@pytest.fixture
def assert_close():
    """``assert_close(actual_f32, expected_f64, K, what)``."""
    return _assert_close
