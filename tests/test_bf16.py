"""precision="bf16": weights rounded to bfloat16 once, each product's operand as it is made.

What is checked, and against what:

* The rounding itself, bit for bit: ``_core.to_bf16`` (each ISA's kernel) against
  ``reference.round_bf16``, and that against an independent nearest-even search.
* The arithmetic, tightly: one step from the layer's own float32 states against the
  float64 reference in bf16 mode (``reference.lstm(..., precision="bf16")``). Fed the same
  float32 state, both round it to the same bfloat16 operands, so only float32 summation
  separates them: the fp32 tolerance of conftest applies.
* Whole sequences: bit for bit equal to the same steps taken one call at a time, and to
  every row run alone (thread counts too, see test_properties); against the bf16 reference
  with a bound for rounding ties (below).
* Accuracy against the fp32 reference: the bounds measured for the README's table.
"""

import os
import pickle
import subprocess
import sys

import numpy as np
import pytest

import gatedrnn
from gatedrnn import reference
from gatedrnn.bench import with_outliers

from conftest import tolerance


def nearest_even_bf16(x32):
    """bfloat16 rounding by search: of the two bfloat16 values around each float32, the
    nearer, the one with an even last mantissa bit on a tie (normal, finite inputs)."""
    bits = x32.view(np.uint32).astype(np.int64)
    lo = bits & ~0xFFFF  # towards zero
    hi = lo + 0x10000  # away from zero (infinity past the largest finite value)
    as_f64 = lambda b: b.astype(np.uint32).view(np.float32).astype(np.float64)  # noqa: E731
    x, below = x32.astype(np.float64), as_f64(lo)
    step = np.ldexp(1.0, ((lo >> 23) & 0xFF).astype(np.int32) - 134)  # one bfloat16 step at this exponent
    d_lo, d_hi = np.abs(x - below), np.abs(np.abs(below) + step - np.abs(x))
    pick_hi = (d_hi < d_lo) | ((d_hi == d_lo) & ((lo >> 16) & 1 == 1))
    return np.where(pick_hi, as_f64(hi), below)


def specials():
    f = np.float32
    ties = np.array([0x3F808000, 0x3F818000, 0xBF808000, 0x3F80FFFF, 0x3F807FFF, 0x7F7FFFFF, 0x7F7F8000,
                     0x00800000, 0x80800000], np.uint32).view(np.float32)
    return np.concatenate([ties, np.array([0.0, -0.0, np.inf, -np.inf, 1e-40, -1e-40, 3.4e38, -3.4e38], f)])


def test_reference_round_bf16_is_nearest_even(rng):
    x = (rng.standard_normal(20000) * np.exp2(rng.integers(-125, 126, 20000))).astype(np.float32)
    x = np.concatenate([x, specials()[:9]])  # ties, the largest values, the smallest normals
    x = x[np.abs(x) >= np.finfo(np.float32).tiny]  # normal inputs (denormals: the next test)
    expected = nearest_even_bf16(x)
    assert np.isinf(expected).sum() == 2  # 0x7F7FFFFF and the tie 0x7F7F8000 round up to infinity
    assert np.array_equal(reference.round_bf16(x), expected)


def test_round_bf16_special_values():
    x = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 1e-40, -1e-40, 3.4e38, -3.4e38], np.float32)
    got = reference.round_bf16(x)
    assert np.array_equal(np.signbit(got[:2]), [False, True]) and (got[:2] == 0).all()
    assert got[2] == np.inf and got[3] == -np.inf and np.isnan(got[4])
    assert got[5] == 0 and not np.signbit(got[5]) and got[6] == 0 and np.signbit(got[6])  # denormals
    assert got[7] == np.inf and got[8] == -np.inf  # past bfloat16's largest finite value


def test_to_bf16_kernel_matches_reference_bit_for_bit(isa, rng):
    n = 4099  # whole vectors and a tail of every length on the way
    x = (rng.standard_normal(n) * np.exp2(rng.integers(-130, 128, n))).astype(np.float32)
    x = np.concatenate([x, specials(), np.array([np.nan, -np.nan], np.float32)])
    for length in (len(x), 1, 7, 8, 15, 16, 17, 31, 33):
        part = x[:length]
        bits = gatedrnn._core.to_bf16(part)
        assert bits.dtype == np.uint16 and bits.shape == (length,)
        got = (bits.astype(np.uint32) << 16).view(np.float32)
        want = reference.round_bf16(part)
        nan = np.isnan(want)
        assert np.array_equal(got[~nan].astype(np.float64), want[~nan]), f"length {length}"
        assert np.array_equal(np.signbit(got[~nan]), np.signbit(want[~nan])), f"signs, length {length}"
        assert np.isnan(got[nan]).all() and (bits[nan] & 0x40).all(), "NaN stays a quiet NaN"


def _model(kind, I, H, seed, **options):
    cls = gatedrnn.LSTM if kind == "lstm" else gatedrnn.GRU
    return cls(I, H, seed=seed, precision="bf16", **options)


def _reference(kind, model, x, state, precision="bf16"):
    """(y, h_n, c_n or None) of the float64 reference for this model's weights."""
    sd = model.state_dict()
    if kind == "lstm":
        y, (h, c) = reference.lstm(x, sd, state, precision=precision)
        return y, h, c
    y, h = reference.gru(x, sd, state, linear_before_reset=model.linear_before_reset, precision=precision)
    return y, h, None


@pytest.mark.parametrize("kind", ["lstm", "gru"])
@pytest.mark.parametrize("I, H", [(1, 1), (7, 8), (16, 15), (33, 17), (8, 31), (17, 65), (300, 40)])
@pytest.mark.parametrize("batch", [1, 3, 9])
def test_steps_match_reference_from_own_state(isa, rng, kind, I, H, batch):
    """Each step, from the float32 state the layer itself produced, against the reference's
    step from that state: batch 1 and 9 fold the input projection into the step, batch 3
    projects it first (a bf16 GEMM)."""
    model = _model(kind, I, H, seed=I * 100 + H)
    x = rng.standard_normal((6, batch, I)).astype(np.float32)
    h = rng.uniform(-1, 1, (1, batch, H)).astype(np.float32)
    c = rng.uniform(-2, 2, (1, batch, H)).astype(np.float32)
    K = I + H
    for t in range(len(x)):
        if kind == "lstm":
            y, (h_new, c_new) = model(x[t:t + 1], (h, c))
            y_ref, h_ref, c_ref = _reference(kind, model, x[t:t + 1], (h, c))
            np.testing.assert_allclose(c_new, c_ref, rtol=1e-5, atol=tolerance(K), err_msg=f"c, step {t}")
            c = c_new
        else:
            y, h_new = model(x[t:t + 1], h)
            y_ref, h_ref, _ = _reference(kind, model, x[t:t + 1], h)
        np.testing.assert_allclose(y, y_ref, rtol=1e-5, atol=tolerance(K), err_msg=f"y, step {t}")
        np.testing.assert_allclose(h_new, h_ref, rtol=1e-5, atol=tolerance(K), err_msg=f"h, step {t}")
        h = h_new


def test_steps_check_catches_unrounded_operands(rng):
    """The check above can fail: the fp32 arithmetic on the same weights and state is off
    by far more than its tolerance (it does not round x and h)."""
    model = _model("lstm", 33, 17, seed=1)
    x = rng.standard_normal((1, 3, 33)).astype(np.float32)
    h = rng.uniform(-1, 1, (1, 3, 17)).astype(np.float32)
    c = np.zeros_like(h)
    y, _ = model(x, (h, c))
    y_fp32, _, _ = _reference("lstm", model, x, (h, c), precision="fp32")
    assert np.abs(y - y_fp32).max() > 20 * tolerance(50)


OPTIONS = [
    ("lstm", {}), ("lstm", {"proj_size": 5}), ("lstm", {"peepholes": True, "clip": 0.5, "input_forget": True}),
    ("gru", {}), ("gru", {"linear_before_reset": False}), ("gru", {"clip": 0.5, "activations": ["HardSigmoid", "Softsign"]}),
]


@pytest.mark.parametrize("kind, options", OPTIONS)
@pytest.mark.parametrize("batch", [1, 9])
def test_sequence_equals_its_steps(isa, rng, kind, options, batch):
    """A whole sequence in one call is the same steps, bit for bit, as one call per step
    (which round-trips the state through Python each time)."""
    model = _model(kind, 13, 33, seed=7, **options)
    x = rng.standard_normal((7, batch, 13)).astype(np.float32)
    y, state = model(x)
    h = c = None
    for t in range(len(x)):
        if kind == "lstm":
            yt, (h, c) = model(x[t:t + 1], None if h is None else (h, c))
        else:
            yt, h = model(x[t:t + 1], h)
        assert np.array_equal(yt[0], y[t]), f"step {t}"
    if kind == "lstm":
        assert np.array_equal(h, state[0]) and np.array_equal(c, state[1])
    else:
        assert np.array_equal(h, state)


# Against the bf16 reference over whole sequences. The layer's float32 state differs from
# the reference's float64 one by float32 rounding; where such a value lies that close to
# the midpoint between two bfloat16 values (about 1 in 2^15), the two round it to
# neighbouring bfloat16 values, one bfloat16 step apart (2^-8 relative). The step's sums
# then differ by up to |w| * 2^-8 * |h| per such element, about 3e-4 for these sizes, and
# that difference is carried on. The exact arithmetic is held to the fp32 tolerance above;
# here the bound is 1e-3, against a difference between bf16 and fp32 of about 2e-3.
SEQUENCES = [
    ("lstm", {"num_layers": 2, "bidirectional": True}), ("lstm", {"proj_size": 7}),
    ("lstm", {"batch_first": True}),
    ("gru", {"num_layers": 2, "bidirectional": True}), ("gru", {"linear_before_reset": False}),
    ("gru", {"bias": False, "batch_first": True}),
]


@pytest.mark.parametrize("kind, options", SEQUENCES)
def test_sequences_match_reference(isa, rng, kind, options):
    model = _model(kind, 20, 24, seed=3, **options)
    bf = options.get("batch_first", False)
    T, B = 12, 5
    x = rng.standard_normal((B, T, 20) if bf else (T, B, 20)).astype(np.float32)
    lengths = [12, 3, 0, 7, 12]
    out = model(x, lengths=lengths)
    sd = model.state_dict()
    if kind == "lstm":
        y_ref, (h_ref, c_ref) = reference.lstm(x, sd, batch_first=bf, lengths=lengths, precision="bf16")
        np.testing.assert_allclose(out[1][1], c_ref, atol=1e-3, rtol=0)
        h = out[1][0]
    else:
        y_ref, h_ref = reference.gru(x, sd, batch_first=bf, lengths=lengths, precision="bf16",
                                     linear_before_reset=model.linear_before_reset)
        h = out[1]
    np.testing.assert_allclose(out[0], y_ref, atol=1e-3, rtol=0)
    np.testing.assert_allclose(h, h_ref, atol=1e-3, rtol=0)


def test_reverse_is_the_reversed_sequence(isa, rng):
    """reverse=True over full-length rows is the forward layer over the flipped sequence."""
    fwd = _model("lstm", 10, 20, seed=4)
    rev = _model("lstm", 10, 20, seed=4, reverse=True)
    x = rng.standard_normal((9, 3, 10)).astype(np.float32)
    y_f, (h_f, c_f) = fwd(np.ascontiguousarray(x[::-1]))
    y_r, (h_r, c_r) = rev(x)
    assert np.array_equal(y_r, y_f[::-1]) and np.array_equal(h_r, h_f) and np.array_equal(c_r, c_f)


# Measured with bench/accuracy.py (README, "Precision"): over T = 128 and 1000, B = 1-32,
# H = 64-512, the max |y - y_fp64| is 2.0e-3-4.7e-3 with PyTorch's init and 1.5e-2-4.1e-2
# with outliers, the mean 2.5e-4-5.8e-4 and 4.3e-4-1.7e-3, and the error does not grow
# along the sequence. The bounds leave about 2x of room over the largest.
@pytest.mark.parametrize("kind", ["lstm", "gru"])
@pytest.mark.parametrize("weights, max_bound, mean_bound", [("torch-init", 1e-2, 1.5e-3), ("outliers", 8e-2, 3.5e-3)])
def test_accuracy_against_fp32_reference(isa, rng, kind, weights, max_bound, mean_bound):
    T, B, H = 1000, 2, 64
    model = _model(kind, H, H, seed=11)
    if weights == "outliers":
        model.load_state_dict(with_outliers(model.state_dict(), rng))
    x = rng.standard_normal((T, B, H)).astype(np.float32)
    out = model(x)
    y_ref, h_ref, c_ref = _reference(kind, model, x, None, precision="fp32")
    err = np.abs(out[0] - y_ref)
    assert err.max() <= max_bound and err.mean() <= mean_bound, (err.max(), err.mean())
    late = err[-T // 4:].max()
    assert late <= max_bound, f"the error grew along the sequence: {late:.2e} in the last quarter"
    if kind == "lstm":
        assert np.abs(out[1][1] - c_ref).max() <= 2 * max_bound  # c is not bounded by 1 like h


# ---- the API --------------------------------------------------------------------------------


def test_precision_attribute_repr_and_state_dict(rng):
    model = gatedrnn.GRU(8, 16, seed=0, precision="bf16")
    assert model.precision == "bf16"
    assert "precision='bf16'" in repr(model)
    assert gatedrnn.GRU(8, 16, seed=0).precision == "fp32"
    fp32 = gatedrnn.GRU(8, 16, seed=0)
    # state_dict gives back the float32 weights as given, not their bfloat16 rounding
    for name, value in model.state_dict().items():
        assert np.array_equal(value, fp32.state_dict()[name]), name
    x = rng.standard_normal((5, 2, 8)).astype(np.float32)
    assert not np.array_equal(model(x)[0], fp32(x)[0])


@pytest.mark.parametrize("bad, error", [("int4", ValueError), ("BF16", ValueError), (16, TypeError), (None, TypeError)])
def test_bad_precision_is_refused(bad, error):
    with pytest.raises(error, match="precision"):
        gatedrnn.LSTM(4, 8, precision=bad)
    with pytest.raises(error, match="precision"):
        gatedrnn.GRUCell(4, 8, precision=bad)


def test_cells_take_precision(rng):
    x = rng.standard_normal((3, 9)).astype(np.float32)
    cell = gatedrnn.LSTMCell(9, 17, seed=2, precision="bf16")
    h, c = cell(x)
    h_ref, c_ref = reference.lstm_cell(x, cell.state_dict(), precision="bf16")
    np.testing.assert_allclose(h, h_ref, rtol=1e-5, atol=tolerance(26))
    np.testing.assert_allclose(c, c_ref, rtol=1e-5, atol=tolerance(26))
    gcell = gatedrnn.GRUCell(9, 17, seed=2, precision="bf16")
    np.testing.assert_allclose(gcell(x), reference.gru_cell(x, gcell.state_dict(), precision="bf16"),
                               rtol=1e-5, atol=tolerance(26))


def test_save_load_pickle_keep_precision(tmp_path, rng):
    model = gatedrnn.LSTM(6, 10, num_layers=2, seed=5, precision="bf16")
    x = rng.standard_normal((4, 3, 6)).astype(np.float32)
    y = model(x)[0]
    path = tmp_path / "m.safetensors"
    model.save(path)
    loaded = gatedrnn.load(path)
    assert loaded.precision == "bf16" and np.array_equal(loaded(x)[0], y)
    as_fp32 = gatedrnn.load(path, precision="fp32")
    reference_fp32 = gatedrnn.LSTM(6, 10, num_layers=2, seed=5)
    assert as_fp32.precision == "fp32" and np.array_equal(as_fp32(x)[0], reference_fp32(x)[0])
    with pytest.raises(ValueError, match="precision"):
        gatedrnn.load(path, precision="fp8")
    again = pickle.loads(pickle.dumps(model))
    assert again.precision == "bf16" and np.array_equal(again(x)[0], y)


def test_stream_of_a_bf16_model_matches_the_layer(rng):
    model = gatedrnn.GRU(5, 12, seed=1, precision="bf16")
    x = rng.standard_normal((6, 2, 5)).astype(np.float32)
    y, _ = model(x)
    stream = model.stream(batch_size=2)
    for t in range(6):
        assert np.array_equal(stream.step(x[t]), y[t]), f"step {t}"


def test_from_torch_takes_precision(rng):
    torch = pytest.importorskip("torch")
    t = torch.nn.LSTM(7, 11, num_layers=2)
    g = gatedrnn.from_torch(t, precision="bf16")
    assert g.precision == "bf16"
    x = rng.standard_normal((5, 2, 7)).astype(np.float32)
    y_ref, _ = reference.lstm(x, {k: v.detach().numpy() for k, v in t.state_dict().items()}, precision="bf16")
    np.testing.assert_allclose(g(x)[0], y_ref, atol=1e-3, rtol=0)


def test_native_and_widened_bf16_agree():
    """On CPUs with AVX512_BF16 the avx512 kernels multiply with vdpbf16ps; the widening
    kernels (GATEDRNN_BF16=widened) add the same exact products in the same order."""
    if not gatedrnn._core.cpu_features()["avx512_bf16"]:
        pytest.skip("no AVX512_BF16 on this CPU: only the widening kernels run here")
    code = ("import numpy as np, gatedrnn; m = gatedrnn.LSTM(33, 70, seed=1, precision='bf16'); "
            "x = np.random.default_rng(0).standard_normal((9, 5, 33)).astype(np.float32); "
            "import sys; sys.stdout.buffer.write(m(x)[0].tobytes() + gatedrnn._core.bf16_method().encode())")
    runs = {}
    for mode in ("native", "widened"):
        env = dict(os.environ, GATEDRNN_BF16=mode)
        runs[mode] = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, check=True).stdout
    assert runs["native"].endswith(b"vdpbf16ps") and runs["widened"].endswith(b"widened to fp32")
    assert runs["native"][:-len(b"vdpbf16ps")] == runs["widened"][:-len(b"widened to fp32")]
