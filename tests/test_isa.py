"""ISA selection (cpuid/xgetbv, set_isa, GATEDRNN_ISA), cross-ISA agreement,
run-to-run determinism, and the accuracy of the vectorised sigmoid/tanh."""

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import gatedrnn

ORDER = ("avx512", "avx2", "scalar")  # best first
AVX512_FLAGS = ("avx512f", "avx512bw", "avx512dq", "avx512vl", "avx512cd")


# --------------------------------------------------------------------------------------
# selection
# --------------------------------------------------------------------------------------


def _os_flags(features, wide):
    """OS-support (XCR0/xgetbv) entries of cpu_features(), if it reports any:
    keys with an "os" token (os_avx, avx512_os, osxsave, ...); ``wide`` selects the
    AVX-512 (zmm/opmask state) ones, otherwise the AVX (ymm state) ones."""
    out = []
    for k in features:
        tokens = k.lower().split("_")
        if "os" not in tokens and k.lower() != "osxsave":
            continue
        if ("512" in k or "zmm" in k.lower()) == wide:
            out.append(features[k])
    return out


def _expected_isas(features):
    """What available_isas() must say, computed from cpu_features()."""
    isas = ["scalar"]
    if features.get("avx2") and features.get("fma") and all(_os_flags(features, False)):
        isas.insert(0, "avx2")
        emulated = gatedrnn._core.emulated_avx512  # a testing build (README: Development)
        if emulated or (all(features.get(f) for f in AVX512_FLAGS) and all(_os_flags(features, True))):
            isas.insert(0, "avx512")
    return isas


def _proc_cpuinfo_flags():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return None


def test_cpu_features_is_a_dict_of_bools():
    features = gatedrnn.cpu_features()
    assert isinstance(features, dict) and features
    for k, v in features.items():
        assert isinstance(k, str)
        assert isinstance(v, bool), (k, v)
    for name in ("avx2", "fma") + AVX512_FLAGS:
        assert name in features, f"cpu_features() lacks {name!r}: {sorted(features)}"


def test_cpu_features_match_proc_cpuinfo():
    """/proc/cpuinfo is an independent oracle: a flag the kernel reports is there."""
    flags = _proc_cpuinfo_flags()
    if flags is None or not {"sse2"} <= flags:
        pytest.skip("no x86 /proc/cpuinfo")
    features = gatedrnn.cpu_features()
    for name in ("avx2", "fma") + AVX512_FLAGS:
        if name in flags:
            assert features[name], f"/proc/cpuinfo has {name}, cpu_features() says False"


def test_available_isas_best_first():
    available = gatedrnn.available_isas()
    assert isinstance(available, list)
    assert all(isinstance(n, str) for n in available)
    assert len(set(available)) == len(available)
    assert set(available) <= set(ORDER)
    assert available[-1] == "scalar"
    assert available == sorted(available, key=ORDER.index), "not best-first"


def test_available_isas_match_cpu_features():
    features = gatedrnn.cpu_features()
    expected = _expected_isas(features)
    available = gatedrnn.available_isas()
    assert available[0] == expected[0], (available, features)
    assert available == expected


def test_available_isas_match_proc_cpuinfo():
    flags = _proc_cpuinfo_flags()
    if flags is None or "sse2" not in flags:
        pytest.skip("no x86 /proc/cpuinfo")
    available = gatedrnn.available_isas()
    assert ("avx2" in available) == ({"avx2", "fma"} <= flags)
    assert ("avx512" in available) == (set(AVX512_FLAGS) <= flags or gatedrnn._core.emulated_avx512)


def test_default_selection_is_best_available():
    """Without GATEDRNN_ISA, a fresh process selects available_isas()[0]."""
    env = {k: v for k, v in os.environ.items() if k != "GATEDRNN_ISA"}
    out = _run_python("import gatedrnn; print(gatedrnn.selected_isa(), gatedrnn.available_isas()[0])", env)
    assert out.returncode == 0, out.stderr
    selected, best = out.stdout.split()
    assert selected == best


def test_selected_isa_is_available():
    assert gatedrnn.selected_isa() in gatedrnn.available_isas()


def test_set_isa_each_available():
    previous = gatedrnn.selected_isa()
    try:
        for name in gatedrnn.available_isas():
            gatedrnn.set_isa(name)
            assert gatedrnn.selected_isa() == name
    finally:
        gatedrnn.set_isa(previous)
    assert gatedrnn.selected_isa() == previous


@pytest.mark.parametrize("name", ["bogus", "sse", "AVX-512"])
def test_set_isa_unknown(name):
    previous = gatedrnn.selected_isa()
    with pytest.raises(ValueError):
        gatedrnn.set_isa(name)
    assert gatedrnn.selected_isa() == previous


def test_set_isa_unsupported_by_cpu():
    missing = [n for n in ORDER if n not in gatedrnn.available_isas()]
    if not missing:
        pytest.skip("this CPU supports every ISA")
    previous = gatedrnn.selected_isa()
    for name in missing:
        with pytest.raises(ValueError, match=name):
            gatedrnn.set_isa(name)
        assert gatedrnn.selected_isa() == previous


def _run_python(code, env):
    """Run code in a fresh interpreter that imports the same gatedrnn as we do."""
    pkg_parent = os.path.dirname(os.path.dirname(os.path.abspath(gatedrnn.__file__)))
    env = dict(env)
    env["PYTHONPATH"] = pkg_parent + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)


_USE = textwrap.dedent(
    """
    import numpy as np
    import gatedrnn
    print("imported")
    try:
        isa = gatedrnn.selected_isa()
        m = gatedrnn.LSTM(3, 4, seed=0)
        y, _ = m(np.ones((2, 1, 3), np.float32))
        print("selected", isa, float(y.sum()))
    except ValueError as e:
        print("ValueError", e)
    """
)


@pytest.mark.parametrize("name", ORDER)
def test_env_var_selects_isa(name):
    if name not in gatedrnn.available_isas():
        pytest.skip(f"{name} not available")
    out = _run_python(_USE, {**os.environ, "GATEDRNN_ISA": name})
    assert out.returncode == 0, out.stderr
    assert f"selected {name} " in out.stdout, out.stdout + out.stderr


def test_env_var_bogus_raises_clear_error_on_first_use():
    out = _run_python(_USE, {**os.environ, "GATEDRNN_ISA": "bogus"})
    assert out.returncode == 0, out.stderr
    first, _, rest = out.stdout.partition("\n")
    assert first == "imported", "import gatedrnn must succeed with a bad GATEDRNN_ISA"
    assert rest.startswith("ValueError"), out.stdout
    assert "GATEDRNN_ISA" in rest and "bogus" in rest, rest


def test_env_var_unsupported_isa_never_runs_it():
    """GATEDRNN_ISA naming an ISA this CPU lacks must not crash (SIGILL): either a
    ValueError naming GATEDRNN_ISA on first use, or an available ISA is used."""
    missing = [n for n in ORDER if n not in gatedrnn.available_isas()]
    if not missing:
        pytest.skip("this CPU supports every ISA")
    out = _run_python(_USE, {**os.environ, "GATEDRNN_ISA": missing[0]})
    assert out.returncode == 0, f"process died: rc={out.returncode} {out.stderr}"
    last = out.stdout.splitlines()[-1]
    if last.startswith("ValueError"):
        assert "GATEDRNN_ISA" in last
    else:
        assert last.split()[1] in gatedrnn.available_isas() and last.split()[1] != missing[0]


# --------------------------------------------------------------------------------------
# cross-ISA agreement and determinism
# --------------------------------------------------------------------------------------


def _workloads():
    """(name, callable returning a list of arrays) over fixed models and data."""
    rng = np.random.default_rng(12345)
    x = rng.standard_normal((13, 5, 17)).astype(np.float32)
    xs = rng.standard_normal((5, 17)).astype(np.float32)
    lengths = np.array([13, 0, 5, 1, 12])
    lstm = gatedrnn.LSTM(17, 33, num_layers=2, bidirectional=True, proj_size=16, seed=1)
    lstm1 = gatedrnn.LSTM(17, 129, seed=2)
    h0 = (0.5 * rng.standard_normal((4, 5, 16))).astype(np.float32)
    c0 = (0.5 * rng.standard_normal((4, 5, 33))).astype(np.float32)
    gru = gatedrnn.GRU(17, 65, num_layers=2, bidirectional=True, seed=3)
    gru_nolbr = gatedrnn.GRU(17, 31, num_layers=3, bidirectional=True, linear_before_reset=False, seed=4)
    lcell = gatedrnn.LSTMCell(17, 15, seed=5)
    gcell = gatedrnn.GRUCell(17, 16, seed=6)
    gcell_nolbr = gatedrnn.GRUCell(17, 7, linear_before_reset=False, seed=7)

    def flat(out):
        if isinstance(out, np.ndarray):
            return [out]
        return [a for o in out for a in flat(o)]

    return [
        ("lstm_proj_bidir_lengths", lambda: flat(lstm(x, (h0, c0), lengths=lengths))),
        ("lstm_H129", lambda: flat(lstm1(x))),
        ("gru_bidir_lengths", lambda: flat(gru(x, lengths=lengths))),
        ("gru_nolbr_3layers", lambda: flat(gru_nolbr(x))),
        ("lstm_cell", lambda: flat(lcell(xs))),
        ("gru_cell", lambda: flat(gcell(xs))),
        ("gru_cell_nolbr", lambda: flat(gcell_nolbr(xs))),
    ]


def test_cross_isa_agreement():
    available = gatedrnn.available_isas()
    if len(available) < 2:
        pytest.skip(f"only one ISA available: {available}")
    previous = gatedrnn.selected_isa()
    results = {}
    try:
        for name in available:
            gatedrnn.set_isa(name)
            results[name] = [(w, f()) for w, f in _workloads()]
    finally:
        gatedrnn.set_isa(previous)
    base = available[-1]  # scalar
    for name in available[:-1]:
        for (w, got), (_, want) in zip(results[name], results[base]):
            for a, b in zip(got, want):
                np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5, err_msg=f"{w}: {name} vs {base}")


def test_set_isa_takes_effect_on_existing_models():
    """Models built under one ISA run under the currently selected one; same numbers."""
    available = gatedrnn.available_isas()
    previous = gatedrnn.selected_isa()
    try:
        gatedrnn.set_isa(available[0])
        workloads = _workloads()
        first = [f() for _, f in workloads]
        for name in available:
            gatedrnn.set_isa(name)
            for (w, f), want in zip(workloads, first):
                for a, b in zip(f(), want):
                    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5, err_msg=f"{w} under {name}")
    finally:
        gatedrnn.set_isa(previous)


def test_repeated_calls_bitwise_identical(isa):
    workloads = _workloads()
    first = [f() for _, f in workloads]
    for _ in range(3):
        for (w, f), want in zip(workloads, first):
            for a, b in zip(f(), want):
                np.testing.assert_array_equal(a, b, err_msg=w)


# --------------------------------------------------------------------------------------
# activations
# --------------------------------------------------------------------------------------

FMAX = float(np.finfo(np.float32).max)


def _sigmoid64(x):
    x = x.astype(np.float64)
    e = np.exp(-np.abs(x))  # in [0, 1]: never overflows
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def _tanh64(x):
    return np.tanh(x.astype(np.float64))


ACTIVATIONS = {"sigmoid": _sigmoid64, "tanh": _tanh64}


def _core_fn(name):
    return getattr(gatedrnn._core, name)


def _call(name, x):
    x = np.ascontiguousarray(x, dtype=np.float32)
    keep = x.copy()
    y = _core_fn(name)(x)
    assert isinstance(y, np.ndarray) and y.dtype == np.float32 and y.shape == x.shape
    np.testing.assert_array_equal(x, keep)  # input untouched
    return y


def _test_points():
    rng = np.random.default_rng(2024)
    mags = np.logspace(-30, np.log10(FMAX), 300_000)  # 1e-30 .. FLT_MAX
    dense = np.linspace(-20, 20, 400_001)
    rand = rng.uniform(-25, 25, 100_000)
    x = np.concatenate([mags, -mags, dense, rand]).astype(np.float32)
    x = x[np.isfinite(x)]
    # shuffle so each SIMD lane sees every kind of value, and make the length not a
    # multiple of 16 (vector tails)
    x = rng.permutation(x)
    return x[: (x.size // 16) * 16 - 5]


@pytest.fixture(scope="module")
def points():
    return _test_points()


@pytest.mark.parametrize("fn", ["sigmoid", "tanh"])
def test_activation_accuracy(isa, fn, points):
    y = _call(fn, points).astype(np.float64)
    want = ACTIVATIONS[fn](points)
    err = np.abs(y - want)
    worst = int(np.argmax(err))
    assert err[worst] <= 1e-6, f"{fn}[{isa}] max abs error {err[worst]:.3g} at x={points[worst]!r}"


@pytest.mark.parametrize("fn", ["sigmoid", "tanh"])
def test_activation_range(isa, fn, points):
    y = _call(fn, points)
    lo = 0.0 if fn == "sigmoid" else -1.0
    assert np.all((y >= lo) & (y <= 1.0))


def test_tanh_sign_and_odd_symmetry(isa, points):
    x = np.abs(points)
    yp = _call("tanh", x).astype(np.float64)
    yn = _call("tanh", -x).astype(np.float64)
    assert np.all(yp >= 0) and np.all(yn <= 0)
    assert np.max(np.abs(yp + yn)) <= 1e-6


@pytest.mark.parametrize("n", [0, 1, 2, 3, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 65, 100])
@pytest.mark.parametrize("fn", ["sigmoid", "tanh"])
def test_activation_tail_lengths(isa, fn, n):
    rng = np.random.default_rng(n)
    x = rng.uniform(-12, 12, n).astype(np.float32)
    if n:
        x[-1] = np.inf  # the last (tail) element too
    y = _call(fn, x)
    np.testing.assert_allclose(y, ACTIVATIONS[fn](x), rtol=0, atol=1e-6)


def _specials():
    tiny = np.float32(np.finfo(np.float32).tiny)
    sub = np.float32(1e-45)
    return np.array([np.inf, -np.inf, 0.0, -0.0, FMAX, -FMAX, 1e30, -1e30, 1e10, -1e10, 100.0,
                     -100.0, 88.8, -88.8, 89.0, -89.0, 104.0, -104.0, 20.0, -20.0, 9.0, -9.0,
                     tiny, -tiny, sub, -sub], dtype=np.float32)


@pytest.mark.parametrize("fn", ["sigmoid", "tanh"])
@pytest.mark.parametrize("pad", [0, 5, 16, 21], ids=lambda p: f"pad{p}")
def test_activation_special_values(isa, fn, pad):
    """±inf and huge magnitudes saturate exactly, ±0 exact, NaN propagates; in every
    lane position (the specials are shifted by `pad` ordinary values)."""
    s = _specials()
    filler = np.linspace(-3, 3, pad, dtype=np.float32)
    x = np.concatenate([filler, s, filler])
    y = _call(fn, x)[pad:pad + s.size]
    np.testing.assert_allclose(y, ACTIVATIONS[fn](s), rtol=0, atol=1e-6)
    yd = dict(zip(s.tolist(), y.tolist()))
    big = [np.inf, FMAX, 1e30]
    for v in big:
        v = float(np.float32(v))
        if fn == "sigmoid":
            assert yd[v] == 1.0 and yd[-v] == 0.0, (v, yd[v], yd[-v])
        else:
            assert yd[v] == 1.0 and yd[-v] == -1.0, (v, yd[v], yd[-v])
    zero_pos, zero_neg = y[2], y[3]
    if fn == "sigmoid":
        assert zero_pos == 0.5 and zero_neg == 0.5
    else:
        assert zero_pos == 0 and not np.signbit(zero_pos), "tanh(+0) must be +0"
        assert zero_neg == 0 and np.signbit(zero_neg), "tanh(-0) must be -0"


@pytest.mark.parametrize("fn", ["sigmoid", "tanh"])
def test_activation_nan_propagates(isa, fn):
    x = np.linspace(-5, 5, 37).astype(np.float32)
    nan_at = [0, 5, 16, 17, 36]
    x[nan_at] = np.nan
    x[8] = -np.nan
    y = _call(fn, x)
    is_nan = np.isnan(x)
    assert np.all(np.isnan(y[is_nan])), "NaN in -> NaN out"
    # neighbours in the same vector are unaffected
    np.testing.assert_allclose(y[~is_nan], ACTIVATIONS[fn](x[~is_nan]), rtol=0, atol=1e-6)


def test_layers_propagate_nan(isa):
    """A NaN input poisons what depends on it, not the other rows of the batch."""
    x = np.ones((3, 2, 4), np.float32)
    x[1, 0, 2] = np.nan
    for m in (gatedrnn.LSTM(4, 9, seed=0), gatedrnn.GRU(4, 9, seed=0)):
        y = m(x)[0]
        assert np.all(np.isnan(y[1:, 0])) and not np.any(np.isnan(y[0, 0]))
        assert not np.any(np.isnan(y[:, 1]))
