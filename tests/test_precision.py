"""Reduced precision: precision="bf16" and precision="int8".

bf16 rounds the weights to bfloat16 once and each product's other operand as it is made;
int8 quantises the weights per output row once and each operand per batch row as it is
used. What is checked, and against what:

* The rounding / quantisation itself, bit for bit: each ISA's kernel (``_core.to_bf16``,
  ``_core.quantize_u8``) against ``reference.round_bf16`` / ``reference.quantize_int8``,
  and those against independent checks (a nearest-even search; the quantisation bounds).
* The arithmetic, tightly: one step from the layer's own float32 states against the
  float64 reference in the same precision (``reference.lstm(..., precision=...)``). Fed the
  same float32 state, both round or quantise it to the same operands, so only float32
  summation and dequantisation separate them: the fp32 tolerance of conftest applies.
* Whole sequences: bit for bit equal to the same steps taken one call at a time, and to
  every row run alone (thread counts too, see test_properties); against the reference in
  the same precision with a bound for rounding ties (below).
* Accuracy against the fp32 reference: the bounds measured for the README's table; int8
  against PyTorch's dynamic quantisation.
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
    with np.errstate(over="ignore"):  # some overflow to infinity: kept, they are cases too
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


def _model(kind, I, H, seed, precision="bf16", **options):
    cls = gatedrnn.LSTM if kind == "lstm" else gatedrnn.GRU
    return cls(I, H, seed=seed, precision=precision, **options)


def _reference(kind, model, x, state, precision=None):
    """(y, h_n, c_n or None) of the float64 reference for this model's weights, in the
    model's precision unless another is given."""
    precision = precision or model.precision
    sd = model.state_dict()
    if kind == "lstm":
        y, (h, c) = reference.lstm(x, sd, state, precision=precision)
        return y, h, c
    y, h = reference.gru(x, sd, state, linear_before_reset=model.linear_before_reset, precision=precision)
    return y, h, None


PRECISIONS = ["bf16", "int8"]


@pytest.mark.parametrize("precision", PRECISIONS)
@pytest.mark.parametrize("kind", ["lstm", "gru"])
@pytest.mark.parametrize("I, H", [(1, 1), (7, 8), (16, 15), (33, 17), (8, 31), (17, 65), (300, 40)])
@pytest.mark.parametrize("batch", [1, 3, 9])
def test_steps_match_reference_from_own_state(isa, rng, precision, kind, I, H, batch):
    """Each step, from the float32 state the layer itself produced, against the reference's
    step from that state: in bf16, batch 1 and 9 fold the input projection into the step,
    batch 3 projects it first (a bf16 GEMM); int8 always projects first."""
    model = _model(kind, I, H, seed=I * 100 + H, precision=precision)
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


@pytest.mark.parametrize("precision", PRECISIONS)
def test_steps_check_catches_unrounded_operands(rng, precision):
    """The check above can fail: the fp32 arithmetic on the same weights and state is off
    by far more than its tolerance (it does not round x and h)."""
    model = _model("lstm", 33, 17, seed=1, precision=precision)
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


@pytest.mark.parametrize("precision", PRECISIONS)
@pytest.mark.parametrize("kind, options", OPTIONS)
@pytest.mark.parametrize("batch", [1, 9])
def test_sequence_equals_its_steps(isa, rng, precision, kind, options, batch):
    """A whole sequence in one call is the same steps, bit for bit, as one call per step
    (which round-trips the state through Python each time)."""
    model = _model(kind, 13, 33, seed=7, precision=precision, **options)
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


# Against the reference in the same precision over whole sequences. The layer's float32
# state differs from the reference's float64 one by float32 rounding; where such a value
# lies that close to a rounding tie (bf16: about 1 in 2^15 values; int8: rarer), the two
# round it to neighbouring values: one bfloat16 step apart (2^-8 relative), or one int8
# step (max|h| / 127). The step's sums then differ by |w| times that step per such
# element: up to 3e-4 in bf16 and 1.6e-3 in int8 for these sizes (|w| <= 1 / sqrt(24)),
# and that difference is carried on. The arithmetic is held to the fp32 tolerance above;
# here the bounds are 1e-3 (bf16) and 4e-3 (int8), against differences from fp32 of
# about 2e-3 and 5e-3.
SEQUENCE_BOUND = {"bf16": 1e-3, "int8": 4e-3}
SEQUENCES = [
    ("lstm", {"num_layers": 2, "bidirectional": True}), ("lstm", {"proj_size": 7}),
    ("lstm", {"batch_first": True}),
    ("gru", {"num_layers": 2, "bidirectional": True}), ("gru", {"linear_before_reset": False}),
    ("gru", {"bias": False, "batch_first": True}),
]


@pytest.mark.parametrize("precision", PRECISIONS)
@pytest.mark.parametrize("kind, options", SEQUENCES)
def test_sequences_match_reference(isa, rng, precision, kind, options):
    model = _model(kind, 20, 24, seed=3, precision=precision, **options)
    bound = SEQUENCE_BOUND[precision]
    bf = options.get("batch_first", False)
    T, B = 12, 5
    x = rng.standard_normal((B, T, 20) if bf else (T, B, 20)).astype(np.float32)
    lengths = [12, 3, 0, 7, 12]
    out = model(x, lengths=lengths)
    sd = model.state_dict()
    if kind == "lstm":
        y_ref, (h_ref, c_ref) = reference.lstm(x, sd, batch_first=bf, lengths=lengths, precision=precision)
        np.testing.assert_allclose(out[1][1], c_ref, atol=bound, rtol=0)
        h = out[1][0]
    else:
        y_ref, h_ref = reference.gru(x, sd, batch_first=bf, lengths=lengths, precision=precision,
                                     linear_before_reset=model.linear_before_reset)
        h = out[1]
    np.testing.assert_allclose(out[0], y_ref, atol=bound, rtol=0)
    np.testing.assert_allclose(h, h_ref, atol=bound, rtol=0)


@pytest.mark.parametrize("precision", PRECISIONS)
def test_reverse_is_the_reversed_sequence(isa, rng, precision):
    """reverse=True over full-length rows is the forward layer over the flipped sequence."""
    fwd = _model("lstm", 10, 20, seed=4, precision=precision)
    rev = _model("lstm", 10, 20, seed=4, precision=precision, reverse=True)
    x = rng.standard_normal((9, 3, 10)).astype(np.float32)
    y_f, (h_f, c_f) = fwd(np.ascontiguousarray(x[::-1]))
    y_r, (h_r, c_r) = rev(x)
    assert np.array_equal(y_r, y_f[::-1]) and np.array_equal(h_r, h_f) and np.array_equal(c_r, c_f)


# Measured with bench/accuracy.py (README, "Precision"), over T = 128 and 1000, B = 1-32,
# H = 64-512, max and mean |y - y_fp64|. bf16: 2.0e-3-4.7e-3 and 2.5e-4-5.8e-4 with
# PyTorch's init, 1.5e-2-4.1e-2 and 4.3e-4-1.7e-3 with outliers. int8: 9.2e-3-2.1e-2 and
# 8.1e-4-2.0e-3 with PyTorch's init, 0.12-0.29 and 4.3e-3-1.9e-2 with outliers. The error
# does not grow along the sequence. The bounds leave about 2x of room over the largest.
ACCURACY_BOUNDS = {  # (precision, weights): (max, mean)
    ("bf16", "torch-init"): (1e-2, 1.5e-3), ("bf16", "outliers"): (8e-2, 3.5e-3),
    ("int8", "torch-init"): (4e-2, 4e-3), ("int8", "outliers"): (0.6, 4e-2),
}


@pytest.mark.parametrize("precision, weights", list(ACCURACY_BOUNDS))
@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_accuracy_against_fp32_reference(isa, rng, kind, precision, weights):
    max_bound, mean_bound = ACCURACY_BOUNDS[precision, weights]
    T, B, H = 1000, 2, 64
    model = _model(kind, H, H, seed=11, precision=precision)
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


@pytest.mark.filterwarnings("ignore:torch.ao.quantization is deprecated:DeprecationWarning")
@pytest.mark.filterwarnings("ignore:.*quantized tensor creation functions.*:UserWarning")
@pytest.mark.parametrize("weights", ["torch-init", "outliers"])
@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_int8_at_least_as_accurate_as_torch_dynamic_quantization(rng, kind, weights):
    """PyTorch's quantize_dynamic (int8 weights per tensor, activations per tensor and
    step) against gatedrnn's int8 (weights per output row, activations per batch row and
    step), both against the float64 reference: gatedrnn's max and mean errors are not larger."""
    torch = pytest.importorskip("torch")
    torch.manual_seed(1)
    cls = torch.nn.LSTM if kind == "lstm" else torch.nn.GRU
    module = cls(48, 96)
    if weights == "outliers":
        state = with_outliers({k: v.detach().numpy() for k, v in module.state_dict().items()}, rng)
        module.load_state_dict({k: torch.from_numpy(v) for k, v in state.items()})
    quantized = torch.ao.quantization.quantize_dynamic(torch.nn.Sequential(module), {cls}, dtype=torch.qint8)[0]
    assert type(quantized) is not cls, "quantize_dynamic left the module in fp32"
    x = rng.standard_normal((200, 3, 48)).astype(np.float32)
    with torch.no_grad():
        y_torch = quantized(torch.from_numpy(x))[0].numpy()
    y_ours = gatedrnn.from_torch(module, precision="int8")(x)[0]
    sd = {k: v.detach().numpy() for k, v in module.state_dict().items()}
    y_ref = (reference.lstm if kind == "lstm" else reference.gru)(x, sd)[0]
    ours, theirs = np.abs(y_ours - y_ref), np.abs(y_torch - y_ref)
    assert theirs.max() > 1e-4, "PyTorch's result is not quantised"
    assert ours.max() <= theirs.max() and ours.mean() <= theirs.mean(), (ours.max(), theirs.max(), ours.mean(),
                                                                          theirs.mean())


def test_quantize_kernel_matches_reference_bit_for_bit(isa, rng):
    """_core.quantize_u8 (each ISA's kernel, whole vectors and a tail) against
    reference.quantize_int8, and the quantisation's own guarantees."""
    for n in (1, 3, 7, 8, 15, 16, 17, 31, 33, 4099):
        x = (rng.standard_normal(n) * np.exp2(rng.integers(-20, 20))).astype(np.float32)
        if n > 3:
            x[n // 2] = x[1] * 1.5 + 0.5  # whatever; a spread of magnitudes
        q, s = gatedrnn._core.quantize_u8(x)
        assert q.dtype == np.uint8 and q.shape == (n,) and q.min() >= 1 and q.max() <= 255
        dequantised = (q.astype(np.float64) - 128) * np.float64(np.float32(s))
        assert np.array_equal(dequantised, reference.quantize_int8(x)), f"n = {n}"
        assert abs(int(q[np.argmax(np.abs(x))]) - 128) == 127, "the largest value maps to +-127"
        assert np.all(np.abs(dequantised - x) <= s / 2 * (1 + 1e-6) + 1e-30), "at most half a step off"
    q, s = gatedrnn._core.quantize_u8(np.zeros(9, np.float32))
    assert s == 0 and (q == 128).all()
    # A row too small for a normal scale (max|x| < 127 * 2^-126) counts as zero, on every
    # ISA alike (its scale would be a denormal, x / s out of range).
    tiny = np.array([180, -3, 7, 0, 1], np.float32) * np.float32(2.0 ** -149)
    q, s = gatedrnn._core.quantize_u8(tiny)
    assert s == 0 and (q == 128).all() and not reference.quantize_int8(tiny).any()
    smallest_normal_scale = np.float32(127) * np.finfo(np.float32).tiny
    x = np.array([smallest_normal_scale, -smallest_normal_scale / 2, 0], np.float32)
    q, s = gatedrnn._core.quantize_u8(x)
    assert s > 0 and list(q) == [255, 128 - 64, 128]  # -63.5 rounds to even: -64
    assert np.array_equal((q.astype(np.float64) - 128) * np.float64(np.float32(s)), reference.quantize_int8(x))
    for bad in (np.nan, np.inf):
        x = np.ones(9, np.float32)
        x[4] = bad
        q, s = gatedrnn._core.quantize_u8(x)
        assert np.isnan(s) and np.isnan(reference.quantize_int8(x)).all()


def test_int8_propagates_nan_input():
    model = gatedrnn.GRU(5, 7, seed=0, precision="int8")
    x = np.ones((3, 2, 5), np.float32)
    x[1, 0, 2] = np.nan
    y, h = model(x)
    assert np.isnan(y[1:, 0]).all() and np.isfinite(y[:, 1]).all() and np.isfinite(y[0]).all()


# ---- the API --------------------------------------------------------------------------------


@pytest.mark.parametrize("precision", PRECISIONS)
def test_precision_attribute_repr_and_state_dict(rng, precision):
    model = gatedrnn.GRU(8, 16, seed=0, precision=precision)
    assert model.precision == precision
    assert f"precision={precision!r}" in repr(model)
    assert gatedrnn.GRU(8, 16, seed=0).precision == "fp32"
    fp32 = gatedrnn.GRU(8, 16, seed=0)
    # state_dict gives back the float32 weights as given, not their rounding
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


@pytest.mark.parametrize("precision", PRECISIONS)
def test_cells_take_precision(rng, precision):
    x = rng.standard_normal((3, 9)).astype(np.float32)
    cell = gatedrnn.LSTMCell(9, 17, seed=2, precision=precision)
    h, c = cell(x)
    h_ref, c_ref = reference.lstm_cell(x, cell.state_dict(), precision=precision)
    np.testing.assert_allclose(h, h_ref, rtol=1e-5, atol=tolerance(26))
    np.testing.assert_allclose(c, c_ref, rtol=1e-5, atol=tolerance(26))
    gcell = gatedrnn.GRUCell(9, 17, seed=2, precision=precision)
    np.testing.assert_allclose(gcell(x), reference.gru_cell(x, gcell.state_dict(), precision=precision),
                               rtol=1e-5, atol=tolerance(26))


@pytest.mark.parametrize("precision", PRECISIONS)
def test_save_load_pickle_keep_precision(tmp_path, rng, precision):
    model = gatedrnn.LSTM(6, 10, num_layers=2, seed=5, precision=precision)
    x = rng.standard_normal((4, 3, 6)).astype(np.float32)
    y = model(x)[0]
    path = tmp_path / "m.safetensors"
    model.save(path)
    loaded = gatedrnn.load(path)
    assert loaded.precision == precision and np.array_equal(loaded(x)[0], y)
    as_fp32 = gatedrnn.load(path, precision="fp32")
    reference_fp32 = gatedrnn.LSTM(6, 10, num_layers=2, seed=5)
    assert as_fp32.precision == "fp32" and np.array_equal(as_fp32(x)[0], reference_fp32(x)[0])
    with pytest.raises(ValueError, match="precision"):
        gatedrnn.load(path, precision="fp8")
    again = pickle.loads(pickle.dumps(model))
    assert again.precision == precision and np.array_equal(again(x)[0], y)


@pytest.mark.parametrize("precision", PRECISIONS)
def test_stream_matches_the_layer(rng, precision):
    model = gatedrnn.GRU(5, 12, seed=1, precision=precision)
    x = rng.standard_normal((6, 2, 5)).astype(np.float32)
    y, _ = model(x)
    stream = model.stream(batch_size=2)
    for t in range(6):
        assert np.array_equal(stream.step(x[t]), y[t]), f"step {t}"


@pytest.mark.parametrize("precision", PRECISIONS)
def test_from_torch_takes_precision(rng, precision):
    torch = pytest.importorskip("torch")
    t = torch.nn.LSTM(7, 11, num_layers=2)
    g = gatedrnn.from_torch(t, precision=precision)
    assert g.precision == precision
    x = rng.standard_normal((5, 2, 7)).astype(np.float32)
    y_ref, _ = reference.lstm(x, {k: v.detach().numpy() for k, v in t.state_dict().items()}, precision=precision)
    np.testing.assert_allclose(g(x)[0], y_ref, atol=SEQUENCE_BOUND[precision], rtol=0)


def test_native_and_widened_kernels_agree():
    """On CPUs with AVX512_BF16 and AVX512_VNNI the avx512 kernels multiply with vdpbf16ps
    and vpdpbusd; the widening kernels (GATEDRNN_WIDEN=1) add the same exact products in
    the same order (bf16), or the same integers from the centred operands (int8, vpmaddubsw):
    the same bits."""
    if gatedrnn._core.bf16_method() != "vdpbf16ps":  # no AVX512_BF16 + VNNI (or another ISA forced)
        pytest.skip(f"the vdpbf16ps / vpdpbusd kernels are not in use here ({gatedrnn._core.bf16_method()})")
    code = ("import sys, numpy as np, gatedrnn; x = np.random.default_rng(0).standard_normal((9, 5, 33)).astype(np.float32); "
            "ys = [gatedrnn.LSTM(33, 70, seed=1, precision=p)(x)[0].tobytes() for p in ('bf16', 'int8')]; "
            "sys.stdout.buffer.write(b''.join(ys) + (gatedrnn._core.bf16_method() + gatedrnn._core.int8_method()).encode())")
    runs = {}
    for widen in ("0", "1"):
        env = dict(os.environ, GATEDRNN_WIDEN=widen)
        runs[widen] = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, check=True).stdout
    widened = b"widened to fp32vpmaddubsw + vpmaddwd"
    assert runs["0"].endswith(b"vdpbf16psvpdpbusd") and runs["1"].endswith(widened)
    assert runs["0"][:-len(b"vdpbf16psvpdpbusd")] == runs["1"][:-len(widened)]
