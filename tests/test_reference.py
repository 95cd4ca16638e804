"""gatedrnn.reference checked against PyTorch (float64) and against hand-written formulas.

The torch tests draw every weight from a seeded RNG (not torch's init), load the same
values into a float64 torch module and into the reference, and compare y and the final
states to ~1e-10. Torch has no linear_before_reset=False GRU, so that variant is checked
against a scalar, loop-per-unit transcription of the formula written below.
"""

import math
import warnings

import numpy as np
import pytest

from gatedrnn import reference

TOL = dict(rtol=1e-10, atol=1e-10)

I_SIZE, H_SIZE, P_SIZE = 4, 5, 3  # input, hidden, projection sizes used throughout
T_STEPS, BATCH = 6, 4


@pytest.fixture(scope="module")
def torch():
    torch = pytest.importorskip("torch")
    # These problems are tiny: torch's intra-op threads only add overhead, and on a busy
    # machine they make the module several times slower. Restore the setting afterwards.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield torch
    torch.set_num_threads(threads)


def _seed(*params):
    """A deterministic per-case seed (Python's hash() of str is salted per process)."""
    return sum((k + 1) * 7919 * (int(p) + 3) for k, p in enumerate(params)) % 2**32


def randomize(torch, module, rng, scale=0.8):
    """Fill every parameter of ``module`` with U(-scale, scale); return them as NumPy."""
    sd = {
        k: rng.uniform(-scale, scale, size=tuple(v.shape)) for k, v in module.state_dict().items()
    }
    module.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in sd.items()})
    return sd


def t2n(t):
    return t.detach().numpy()


def make_lstm(torch, rng, num_layers, bidirectional, proj_size, bias, batch_first):
    m = torch.nn.LSTM(
        I_SIZE, H_SIZE, num_layers=num_layers, bias=bias, batch_first=batch_first,
        bidirectional=bidirectional, proj_size=proj_size, dtype=torch.float64,
    )
    return m, randomize(torch, m, rng)


def make_gru(torch, rng, num_layers, bidirectional, bias, batch_first):
    m = torch.nn.GRU(
        I_SIZE, H_SIZE, num_layers=num_layers, bias=bias, batch_first=batch_first,
        bidirectional=bidirectional, dtype=torch.float64,
    )
    return m, randomize(torch, m, rng)


def states(rng, num_states, batch, size):
    shape = (num_states, size) if batch is None else (num_states, batch, size)
    return rng.standard_normal(shape)


# --------------------------------------------------------------------------------------
# Activations
# --------------------------------------------------------------------------------------


def test_sigmoid_special_values():
    x = np.array([np.inf, -np.inf, np.nan, 0.0, -0.0])
    np.testing.assert_array_equal(reference.sigmoid(x), [1.0, 0.0, np.nan, 0.5, 0.5])


def test_sigmoid_large_magnitudes_raise_no_fp_errors():
    x = np.array([-np.finfo(float).max, -1e300, -800.0, -745.0, -709.0, -100.0, -40.0,
                  40.0, 100.0, 709.0, 800.0, 1e300, np.finfo(float).max, np.inf, -np.inf])
    with warnings.catch_warnings(), np.errstate(all="raise"):
        warnings.simplefilter("error")
        s = reference.sigmoid(x)
    neg, pos = x < 0, x > 0
    # x >= 40: 1/(1+e^-x) rounds to exactly 1. x <= -40: sigmoid(x) = e^x (1 - e^x + ...),
    # so e^x matches to relative 1e-17 (and exactly where e^x underflows).
    np.testing.assert_array_equal(s[pos], 1.0)
    with np.errstate(under="ignore"):
        expected = np.exp(x[neg])
    np.testing.assert_allclose(s[neg], expected, rtol=1e-15, atol=0)
    assert s[x == -745.0][0] > 0  # e^-745 is subnormal, not flushed to 0
    assert np.all(s[x <= -800] == 0)


def test_sigmoid_matches_formulas_on_moderate_range():
    x = np.linspace(-30, 30, 2001)
    s = reference.sigmoid(x)
    np.testing.assert_allclose(s, 1.0 / (1.0 + np.exp(-x)), rtol=1e-14, atol=0)
    np.testing.assert_allclose(s, 0.5 * (1.0 + np.tanh(0.5 * x)), rtol=0, atol=3e-16)
    np.testing.assert_allclose(s + reference.sigmoid(-x), 1.0, rtol=0, atol=3e-16)
    assert np.all(np.diff(s) >= 0)


def test_sigmoid_dtype_and_scalars():
    x32 = np.array([-3.5, 0.25, 2.0], dtype=np.float32)
    s = reference.sigmoid(x32)
    assert s.dtype == np.float64
    np.testing.assert_array_equal(s, reference.sigmoid(x32.astype(np.float64)))
    assert reference.sigmoid(0) == 0.5
    assert np.ndim(reference.sigmoid(1.0)) == 0
    assert reference.sigmoid(np.array([1, 2])).dtype == np.float64
    with pytest.raises(TypeError, match="x"):
        reference.sigmoid(np.array([1 + 1j]))


def test_tanh_special_and_large_values():
    x = np.array([np.inf, -np.inf, np.nan, 0.0, -0.0, 1e300, -1e300, 1e-300, -1e-300])
    with warnings.catch_warnings(), np.errstate(all="raise"):
        warnings.simplefilter("error")
        t = reference.tanh(x)
    np.testing.assert_array_equal(t, [1.0, -1.0, np.nan, 0.0, -0.0, 1.0, -1.0, 1e-300, -1e-300])
    assert np.signbit(t[4]) and not np.signbit(t[3])
    assert reference.tanh(np.float32(0.5)).dtype == np.float64


def test_tanh_matches_exp_formula():
    x = np.concatenate([np.linspace(0.5, 20, 500), -np.linspace(0.5, 20, 500)])
    e = np.exp(2 * x)
    np.testing.assert_allclose(reference.tanh(x), (e - 1) / (e + 1), rtol=1e-14, atol=0)


# --------------------------------------------------------------------------------------
# Layers against torch.nn.LSTM / GRU
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("with_state", [False, True], ids=["zero_state", "init_state"])
@pytest.mark.parametrize("batch_first", [False, True], ids=["tbi", "bti"])
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "nobias"])
@pytest.mark.parametrize("proj_size", [0, P_SIZE], ids=["noproj", "proj"])
@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
@pytest.mark.parametrize("num_layers", [1, 2, 3])
def test_lstm_matches_torch(torch, num_layers, bidirectional, proj_size, bias, batch_first,
                            with_state):
    rng = np.random.default_rng(
        _seed(num_layers, bidirectional, proj_size, bias, batch_first, with_state))
    m, sd = make_lstm(torch, rng, num_layers, bidirectional, proj_size, bias, batch_first)
    n, h_out = num_layers * (2 if bidirectional else 1), proj_size or H_SIZE
    x = rng.standard_normal((BATCH, T_STEPS, I_SIZE) if batch_first
                            else (T_STEPS, BATCH, I_SIZE))
    h0, c0 = states(rng, n, BATCH, h_out), states(rng, n, BATCH, H_SIZE)
    with torch.no_grad():
        if with_state:
            ty, (th, tc) = m(torch.from_numpy(x), (torch.from_numpy(h0), torch.from_numpy(c0)))
        else:
            ty, (th, tc) = m(torch.from_numpy(x))
    y, (h, c) = reference.lstm(x, sd, (h0, c0) if with_state else None, batch_first=batch_first)
    assert y.dtype == h.dtype == c.dtype == np.float64
    assert y.shape == tuple(ty.shape)
    assert h.shape == (n, BATCH, h_out) and c.shape == (n, BATCH, H_SIZE)
    np.testing.assert_allclose(y, t2n(ty), **TOL)
    np.testing.assert_allclose(h, t2n(th), **TOL)
    np.testing.assert_allclose(c, t2n(tc), **TOL)


@pytest.mark.parametrize("with_state", [False, True], ids=["zero_state", "init_state"])
@pytest.mark.parametrize("batch_first", [False, True], ids=["tbi", "bti"])
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "nobias"])
@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
@pytest.mark.parametrize("num_layers", [1, 2, 3])
def test_gru_matches_torch(torch, num_layers, bidirectional, bias, batch_first, with_state):
    rng = np.random.default_rng(_seed(num_layers, bidirectional, bias, batch_first, with_state))
    m, sd = make_gru(torch, rng, num_layers, bidirectional, bias, batch_first)
    n = num_layers * (2 if bidirectional else 1)
    x = rng.standard_normal((BATCH, T_STEPS, I_SIZE) if batch_first
                            else (T_STEPS, BATCH, I_SIZE))
    h0 = states(rng, n, BATCH, H_SIZE)
    with torch.no_grad():
        ty, th = m(torch.from_numpy(x), torch.from_numpy(h0) if with_state else None)
    y, h = reference.gru(x, sd, h0 if with_state else None, batch_first=batch_first)
    assert y.dtype == h.dtype == np.float64
    assert y.shape == tuple(ty.shape) and h.shape == (n, BATCH, H_SIZE)
    np.testing.assert_allclose(y, t2n(ty), **TOL)
    np.testing.assert_allclose(h, t2n(th), **TOL)


@pytest.mark.parametrize("batch_first", [False, True], ids=["tbi", "bti"])
@pytest.mark.parametrize("with_state", [False, True], ids=["zero_state", "init_state"])
@pytest.mark.parametrize("proj_size", [0, P_SIZE], ids=["noproj", "proj"])
@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
def test_lstm_unbatched_matches_torch(torch, bidirectional, proj_size, with_state, batch_first):
    rng = np.random.default_rng(_seed(bidirectional, proj_size, with_state, batch_first, 11))
    m, sd = make_lstm(torch, rng, 2, bidirectional, proj_size, True, batch_first)
    n, h_out = 2 * (2 if bidirectional else 1), proj_size or H_SIZE
    x = rng.standard_normal((T_STEPS, I_SIZE))  # (T, I) even with batch_first
    h0, c0 = states(rng, n, None, h_out), states(rng, n, None, H_SIZE)
    with torch.no_grad():
        args = (torch.from_numpy(h0), torch.from_numpy(c0)) if with_state else None
        ty, (th, tc) = m(torch.from_numpy(x), args)
    y, (h, c) = reference.lstm(x, sd, (h0, c0) if with_state else None, batch_first=batch_first)
    assert y.shape == (T_STEPS, (2 if bidirectional else 1) * h_out)
    assert h.shape == (n, h_out) and c.shape == (n, H_SIZE)
    np.testing.assert_allclose(y, t2n(ty), **TOL)
    np.testing.assert_allclose(h, t2n(th), **TOL)
    np.testing.assert_allclose(c, t2n(tc), **TOL)


@pytest.mark.parametrize("batch_first", [False, True], ids=["tbi", "bti"])
@pytest.mark.parametrize("with_state", [False, True], ids=["zero_state", "init_state"])
@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
def test_gru_unbatched_matches_torch(torch, bidirectional, with_state, batch_first):
    rng = np.random.default_rng(_seed(bidirectional, with_state, batch_first, 12))
    m, sd = make_gru(torch, rng, 2, bidirectional, True, batch_first)
    n = 2 * (2 if bidirectional else 1)
    x = rng.standard_normal((T_STEPS, I_SIZE))
    h0 = states(rng, n, None, H_SIZE)
    with torch.no_grad():
        ty, th = m(torch.from_numpy(x), torch.from_numpy(h0) if with_state else None)
    y, h = reference.gru(x, sd, h0 if with_state else None, batch_first=batch_first)
    assert y.shape == (T_STEPS, (2 if bidirectional else 1) * H_SIZE) and h.shape == (n, H_SIZE)
    np.testing.assert_allclose(y, t2n(ty), **TOL)
    np.testing.assert_allclose(h, t2n(th), **TOL)


# --------------------------------------------------------------------------------------
# lengths against pack_padded_sequence
# --------------------------------------------------------------------------------------

# Unsorted, with 1 and T; the second set never reaches T (padding at the end of every row).
LENGTHS = {"with_full": [3, T_STEPS, 1, 4], "all_short": [2, 5, 1, 3]}


def padded_input(rng, lengths, batch_first):
    """(T, B, I) or (B, T, I) input with NaN in the padding: it must never be read."""
    x = rng.standard_normal((T_STEPS, len(lengths), I_SIZE))
    for b, n in enumerate(lengths):
        x[n:, b] = np.nan
    return np.ascontiguousarray(x.transpose(1, 0, 2)) if batch_first else x


def run_torch_packed(torch, m, x, lengths, hx, batch_first):
    pack = torch.nn.utils.rnn
    packed = pack.pack_padded_sequence(
        torch.from_numpy(np.nan_to_num(x, nan=0.0)), torch.tensor(lengths),
        batch_first=batch_first, enforce_sorted=False,
    )
    with torch.no_grad():
        out, state = m(packed, hx)
    y, _ = pack.pad_packed_sequence(out, batch_first=batch_first, total_length=T_STEPS)
    return t2n(y), state


@pytest.mark.parametrize("lengths", list(LENGTHS.values()), ids=list(LENGTHS))
@pytest.mark.parametrize("with_state", [False, True], ids=["zero_state", "init_state"])
@pytest.mark.parametrize("batch_first", [False, True], ids=["tbi", "bti"])
@pytest.mark.parametrize("proj_size", [0, P_SIZE], ids=["noproj", "proj"])
@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
@pytest.mark.parametrize("num_layers", [1, 2])
def test_lstm_lengths_match_packed_torch(torch, num_layers, bidirectional, proj_size,
                                         batch_first, with_state, lengths):
    rng = np.random.default_rng(
        _seed(num_layers, bidirectional, proj_size, batch_first, with_state, lengths[0]))
    m, sd = make_lstm(torch, rng, num_layers, bidirectional, proj_size, True, batch_first)
    n, h_out = num_layers * (2 if bidirectional else 1), proj_size or H_SIZE
    x = padded_input(rng, lengths, batch_first)
    h0, c0 = states(rng, n, len(lengths), h_out), states(rng, n, len(lengths), H_SIZE)
    hx = (torch.from_numpy(h0), torch.from_numpy(c0)) if with_state else None
    ty, (th, tc) = run_torch_packed(torch, m, x, lengths, hx, batch_first)
    y, (h, c) = reference.lstm(x, sd, (h0, c0) if with_state else None,
                               batch_first=batch_first, lengths=np.array(lengths))
    assert np.isfinite(y).all()
    np.testing.assert_allclose(y, ty, **TOL)
    np.testing.assert_allclose(h, t2n(th), **TOL)
    np.testing.assert_allclose(c, t2n(tc), **TOL)


@pytest.mark.parametrize("lengths", list(LENGTHS.values()), ids=list(LENGTHS))
@pytest.mark.parametrize("with_state", [False, True], ids=["zero_state", "init_state"])
@pytest.mark.parametrize("batch_first", [False, True], ids=["tbi", "bti"])
@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
@pytest.mark.parametrize("num_layers", [1, 2])
def test_gru_lengths_match_packed_torch(torch, num_layers, bidirectional, batch_first,
                                        with_state, lengths):
    rng = np.random.default_rng(
        _seed(num_layers, bidirectional, batch_first, with_state, lengths[0], 5))
    m, sd = make_gru(torch, rng, num_layers, bidirectional, True, batch_first)
    n = num_layers * (2 if bidirectional else 1)
    x = padded_input(rng, lengths, batch_first)
    h0 = states(rng, n, len(lengths), H_SIZE)
    ty, th = run_torch_packed(torch, m, x, lengths,
                              torch.from_numpy(h0) if with_state else None, batch_first)
    y, h = reference.gru(x, sd, h0 if with_state else None, batch_first=batch_first,
                         lengths=lengths)
    assert np.isfinite(y).all()
    np.testing.assert_allclose(y, ty, **TOL)
    np.testing.assert_allclose(h, t2n(th), **TOL)


def test_lengths_matter_for_reverse_direction(torch):
    """Guard against a vacuous lengths test: running the zero-padded batch without
    lengths gives a different reverse output inside the valid region."""
    rng = np.random.default_rng(3)
    _, sd = make_gru(torch, rng, 1, True, True, False)
    lengths = [2, T_STEPS]
    x = np.nan_to_num(padded_input(rng, lengths, False), nan=0.0)
    y_len, _ = reference.gru(x, sd, lengths=lengths)
    y_full, _ = reference.gru(x, sd)
    np.testing.assert_allclose(y_len[:, 1], y_full[:, 1], **TOL)  # full-length row: same
    np.testing.assert_allclose(y_len[:2, 0, :H_SIZE], y_full[:2, 0, :H_SIZE], **TOL)  # forward
    assert np.abs(y_len[:2, 0, H_SIZE:] - y_full[:2, 0, H_SIZE:]).max() > 1e-3  # reverse
    assert np.all(y_len[2:, 0] == 0)


@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_zero_length_rows(torch, kind):
    """len == 0 (torch rejects it): y is 0 and the final state is the initial state; the
    other rows are unaffected (compared with torch on the batch without that row)."""
    rng = np.random.default_rng(21 if kind == "lstm" else 22)
    lengths = [4, 0, T_STEPS, 0, 1]
    keep = [0, 2, 4]
    x = padded_input(rng, lengths, False)
    if kind == "lstm":
        m, sd = make_lstm(torch, rng, 2, True, P_SIZE, True, False)
        h0, c0 = states(rng, 4, len(lengths), P_SIZE), states(rng, 4, len(lengths), H_SIZE)
        y, (h, c) = reference.lstm(x, sd, (h0, c0), lengths=lengths)
        ty, (th, tc) = run_torch_packed(
            torch, m, x[:, keep], [lengths[k] for k in keep],
            (torch.from_numpy(h0[:, keep]), torch.from_numpy(c0[:, keep])), False)
        np.testing.assert_array_equal(c[:, [1, 3]], c0[:, [1, 3]])
        np.testing.assert_allclose(c[:, keep], t2n(tc), **TOL)
    else:
        m, sd = make_gru(torch, rng, 2, True, True, False)
        h0 = states(rng, 4, len(lengths), H_SIZE)
        y, h = reference.gru(x, sd, h0, lengths=lengths)
        ty, th = run_torch_packed(torch, m, x[:, keep], [lengths[k] for k in keep],
                                  torch.from_numpy(h0[:, keep]), False)
    np.testing.assert_array_equal(y[:, [1, 3]], 0.0)
    np.testing.assert_array_equal(h[:, [1, 3]], h0[:, [1, 3]])
    np.testing.assert_allclose(y[:, keep], ty, **TOL)
    np.testing.assert_allclose(h[:, keep], t2n(th), **TOL)


def test_lengths_rows_equal_separate_unbatched_runs():
    """Without torch: each row with lengths equals that row alone, truncated, unbatched."""
    rng = np.random.default_rng(8)
    G, H, P = 4, H_SIZE, P_SIZE
    sd = {}
    for layer, in_size in [(0, I_SIZE), (1, 2 * P)]:
        for sfx in ["", "_reverse"]:
            k = f"_l{layer}{sfx}"
            sd["weight_ih" + k] = rng.uniform(-1, 1, (G * H, in_size))
            sd["weight_hh" + k] = rng.uniform(-1, 1, (G * H, P))
            sd["bias_ih" + k] = rng.uniform(-1, 1, G * H)
            sd["bias_hh" + k] = rng.uniform(-1, 1, G * H)
            sd["weight_hr" + k] = rng.uniform(-1, 1, (P, H))
    lengths = [5, 0, 2, T_STEPS]
    x = padded_input(rng, lengths, True)  # batch_first
    h0, c0 = states(rng, 4, len(lengths), P), states(rng, 4, len(lengths), H)
    y, (h, c) = reference.lstm(x, sd, (h0, c0), batch_first=True, lengths=lengths)
    for b, n in enumerate(lengths):
        yb, (hb, cb) = reference.lstm(x[b, :n], sd, (h0[:, b], c0[:, b]))
        np.testing.assert_allclose(y[b, :n], yb, rtol=1e-13, atol=1e-13)
        np.testing.assert_array_equal(y[b, n:], 0.0)
        np.testing.assert_allclose(h[:, b], hb, rtol=1e-13, atol=1e-13)
        np.testing.assert_allclose(c[:, b], cb, rtol=1e-13, atol=1e-13)


# --------------------------------------------------------------------------------------
# Cells against torch.nn.LSTMCell / GRUCell
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("with_state", [False, True], ids=["zero_state", "init_state"])
@pytest.mark.parametrize("batched", [True, False], ids=["batched", "unbatched"])
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "nobias"])
def test_lstm_cell_matches_torch(torch, bias, batched, with_state):
    rng = np.random.default_rng(_seed(bias, batched, with_state, 31))
    m = torch.nn.LSTMCell(I_SIZE, H_SIZE, bias=bias, dtype=torch.float64)
    sd = randomize(torch, m, rng)
    lead = (BATCH,) if batched else ()
    x = rng.standard_normal(lead + (I_SIZE,))
    h0, c0 = rng.standard_normal(lead + (H_SIZE,)), rng.standard_normal(lead + (H_SIZE,))
    with torch.no_grad():
        args = (torch.from_numpy(h0), torch.from_numpy(c0)) if with_state else None
        th, tc = m(torch.from_numpy(x), args)
    h, c = reference.lstm_cell(x, sd, (h0, c0) if with_state else None)
    assert h.shape == c.shape == lead + (H_SIZE,)
    np.testing.assert_allclose(h, t2n(th), **TOL)
    np.testing.assert_allclose(c, t2n(tc), **TOL)


@pytest.mark.parametrize("with_state", [False, True], ids=["zero_state", "init_state"])
@pytest.mark.parametrize("batched", [True, False], ids=["batched", "unbatched"])
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "nobias"])
def test_gru_cell_matches_torch(torch, bias, batched, with_state):
    rng = np.random.default_rng(_seed(bias, batched, with_state, 32))
    m = torch.nn.GRUCell(I_SIZE, H_SIZE, bias=bias, dtype=torch.float64)
    sd = randomize(torch, m, rng)
    lead = (BATCH,) if batched else ()
    x = rng.standard_normal(lead + (I_SIZE,))
    h0 = rng.standard_normal(lead + (H_SIZE,))
    with torch.no_grad():
        th = m(torch.from_numpy(x), torch.from_numpy(h0) if with_state else None)
    h = reference.gru_cell(x, sd, h0 if with_state else None)
    assert h.shape == lead + (H_SIZE,)
    np.testing.assert_allclose(h, t2n(th), **TOL)


# --------------------------------------------------------------------------------------
# GRU linear_before_reset=False: torch has none, so check a scalar transcription
# --------------------------------------------------------------------------------------


def gru_step_by_hand(x, h, w_ih, w_hh, b_ih, b_hh, linear_before_reset):
    """One GRU step for one row, one unit at a time, with math.exp / math.tanh."""
    hid = len(h)

    def dot(row, v):
        return sum(a * b for a, b in zip(row, v))

    def sig(v):
        return 1.0 / (1.0 + math.exp(-v))

    r = [sig(dot(w_ih[j], x) + b_ih[j] + dot(w_hh[j], h) + b_hh[j]) for j in range(hid)]
    z = [sig(dot(w_ih[hid + j], x) + b_ih[hid + j] + dot(w_hh[hid + j], h) + b_hh[hid + j])
         for j in range(hid)]
    r_times_h = [r[k] * h[k] for k in range(hid)]
    n = []
    for j in range(hid):
        row = 2 * hid + j
        if linear_before_reset:
            rec = r[j] * (dot(w_hh[row], h) + b_hh[row])
        else:
            rec = dot(w_hh[row], r_times_h) + b_hh[row]
        n.append(math.tanh(dot(w_ih[row], x) + b_ih[row] + rec))
    return [(1.0 - z[j]) * n[j] + z[j] * h[j] for j in range(hid)]


def gru_layers_by_hand(x_rows, sd, h0, length, linear_before_reset):
    """One sequence (list of T input vectors) through a bidirectional GRU stack, by hand.

    Uses only the first ``length`` inputs; returns (y rows for t < length, final states).
    """
    num_layers = sum(1 for k in sd if k.startswith("weight_ih_l") and "reverse" not in k)
    layer_in = [list(v) for v in x_rows[:length]]
    finals = [None] * (2 * num_layers)
    for layer in range(num_layers):
        outs = []
        for d, sfx in enumerate(["", "_reverse"]):
            k = f"_l{layer}{sfx}"
            w = [sd["weight_ih" + k], sd["weight_hh" + k], sd["bias_ih" + k], sd["bias_hh" + k]]
            h = list(h0[2 * layer + d])
            order = range(length - 1, -1, -1) if d else range(length)
            out = [None] * length
            for t in order:
                h = gru_step_by_hand(layer_in[t], h, *w, linear_before_reset)
                out[t] = h
            outs.append(out)
            finals[2 * layer + d] = h
        layer_in = [outs[0][t] + outs[1][t] for t in range(length)]
    return np.array(layer_in, dtype=float).reshape(length, 2 * H_SIZE), np.array(finals)


def gru_cell_weights(rng, bias=True):
    sd = {
        "weight_ih": rng.uniform(-1, 1, (3 * H_SIZE, I_SIZE)),
        "weight_hh": rng.uniform(-1, 1, (3 * H_SIZE, H_SIZE)),
    }
    if bias:
        sd["bias_ih"] = rng.uniform(-1, 1, 3 * H_SIZE)
        sd["bias_hh"] = rng.uniform(-1, 1, 3 * H_SIZE)
    return sd


def test_hand_gru_formula_agrees_with_torch(torch):
    """Validates gru_step_by_hand itself, on the variant torch has (lbr=True)."""
    rng = np.random.default_rng(40)
    m = torch.nn.GRUCell(I_SIZE, H_SIZE, dtype=torch.float64)
    sd = randomize(torch, m, rng, scale=1.0)
    x, h = rng.standard_normal(I_SIZE), rng.standard_normal(H_SIZE)
    with torch.no_grad():
        th = t2n(m(torch.from_numpy(x), torch.from_numpy(h)))
    by_hand = gru_step_by_hand(x, h, sd["weight_ih"], sd["weight_hh"], sd["bias_ih"],
                               sd["bias_hh"], True)
    np.testing.assert_allclose(by_hand, th, **TOL)


@pytest.mark.parametrize("linear_before_reset", [False, True], ids=["lbr0", "lbr1"])
def test_gru_cell_matches_hand_formula(linear_before_reset):
    rng = np.random.default_rng(41)
    sd = gru_cell_weights(rng)
    x, h = rng.standard_normal((3, I_SIZE)), rng.standard_normal((3, H_SIZE))
    out = reference.gru_cell(x, sd, h, linear_before_reset=linear_before_reset)
    for b in range(3):
        by_hand = gru_step_by_hand(x[b], h[b], sd["weight_ih"], sd["weight_hh"], sd["bias_ih"],
                                   sd["bias_hh"], linear_before_reset)
        np.testing.assert_allclose(out[b], by_hand, **TOL)


def test_gru_lbr_false_differs_from_true():
    rng = np.random.default_rng(42)
    sd = gru_cell_weights(rng)
    x, h = rng.standard_normal((3, I_SIZE)), rng.standard_normal((3, H_SIZE))
    a = reference.gru_cell(x, sd, h, linear_before_reset=False)
    b = reference.gru_cell(x, sd, h, linear_before_reset=True)
    assert np.abs(a - b).max() > 1e-2


def test_gru_lbr_variants_agree_when_h_and_b_hn_are_zero():
    """With h = 0 and no bias, r*(W_hn h + b_hn) = W_hn (r*h) + b_hn = 0."""
    rng = np.random.default_rng(43)
    sd = gru_cell_weights(rng, bias=False)
    x = rng.standard_normal((3, I_SIZE))
    a = reference.gru_cell(x, sd, linear_before_reset=False)
    b = reference.gru_cell(x, sd, None, linear_before_reset=True)
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("linear_before_reset", [False, True], ids=["lbr0", "lbr1"])
def test_gru_layers_match_hand_formula(linear_before_reset):
    """2-layer bidirectional GRU with lengths and initial state, row by row, by hand."""
    rng = np.random.default_rng(44)
    sd = {}
    for layer, in_size in [(0, I_SIZE), (1, 2 * H_SIZE)]:
        for sfx in ["", "_reverse"]:
            k = f"_l{layer}{sfx}"
            sd["weight_ih" + k] = rng.uniform(-1, 1, (3 * H_SIZE, in_size))
            sd["weight_hh" + k] = rng.uniform(-1, 1, (3 * H_SIZE, H_SIZE))
            sd["bias_ih" + k] = rng.uniform(-1, 1, 3 * H_SIZE)
            sd["bias_hh" + k] = rng.uniform(-1, 1, 3 * H_SIZE)
    lengths = [T_STEPS, 3, 0]
    x = padded_input(rng, lengths, False)
    h0 = states(rng, 4, len(lengths), H_SIZE)
    y, h = reference.gru(x, sd, h0, lengths=lengths, linear_before_reset=linear_before_reset)
    for b, n in enumerate(lengths):
        yb, hb = gru_layers_by_hand(list(x[:, b]), sd, h0[:, b], n, linear_before_reset)
        if n:
            np.testing.assert_allclose(y[:n, b], yb, **TOL)
        np.testing.assert_array_equal(y[n:, b], 0.0)
        np.testing.assert_allclose(h[:, b], hb, **TOL)


# --------------------------------------------------------------------------------------
# Sensitivity, dtypes, argument errors
# --------------------------------------------------------------------------------------


def test_comparison_detects_swapped_gates_and_tiny_perturbations(torch):
    """The torch comparisons above can fail: a gate-order mistake or a 1e-6 weight
    change is far outside the tolerance."""
    rng = np.random.default_rng(50)
    m, sd = make_lstm(torch, rng, 1, False, 0, True, False)
    x = rng.standard_normal((T_STEPS, BATCH, I_SIZE))
    with torch.no_grad():
        ty, _ = m(torch.from_numpy(x))
    ty = t2n(ty)
    np.testing.assert_allclose(reference.lstm(x, sd)[0], ty, **TOL)

    swapped = dict(sd)
    w = sd["weight_ih_l0"].reshape(4, H_SIZE, I_SIZE)
    swapped["weight_ih_l0"] = w[[1, 0, 2, 3]].reshape(4 * H_SIZE, I_SIZE)  # f, i, g, o
    assert np.abs(reference.lstm(x, swapped)[0] - ty).max() > 1e-3

    nudged = dict(sd)
    nudged["weight_hh_l0"] = sd["weight_hh_l0"].copy()
    nudged["weight_hh_l0"][0, 0] += 1e-6
    assert np.abs(reference.lstm(x, nudged)[0] - ty).max() > 1e-9


def test_float32_input_is_computed_in_float64():
    rng = np.random.default_rng(51)
    sd = gru_cell_weights(rng)
    sd = {k + "_l0": v for k, v in sd.items()}
    x32 = rng.standard_normal((T_STEPS, 2, I_SIZE)).astype(np.float32)
    y32, h32 = reference.gru(x32, {k: v.astype(np.float32) for k, v in sd.items()})
    y64, h64 = reference.gru(x32.astype(np.float64),
                             {k: v.astype(np.float32).astype(np.float64) for k, v in sd.items()})
    assert y32.dtype == h32.dtype == np.float64
    np.testing.assert_array_equal(y32, y64)
    np.testing.assert_array_equal(h32, h64)


def test_argument_errors():
    rng = np.random.default_rng(52)
    sd = {k + "_l0": v for k, v in gru_cell_weights(rng).items()}
    x = rng.standard_normal((T_STEPS, 2, I_SIZE))
    with pytest.raises(ValueError, match=r"x: expected shape \(T, B, 4\).*got \(6, 2, 3\)"):
        reference.gru(x[..., :3], sd)
    with pytest.raises(ValueError, match="lengths"):
        reference.gru(x[:, 0], sd, lengths=[T_STEPS])  # unbatched
    with pytest.raises(ValueError, match="lengths"):
        reference.gru(x, sd, lengths=[1, T_STEPS + 1])
    with pytest.raises(ValueError, match="lengths"):
        reference.gru(x, sd, lengths=[1, -1])
    with pytest.raises(ValueError, match="lengths"):
        reference.gru(x, sd, lengths=[1, 2, 3])
    with pytest.raises(TypeError, match="lengths"):
        reference.gru(x, sd, lengths=[1.5, 2.0])
    with pytest.raises(ValueError, match="h0"):
        reference.gru(x, sd, np.zeros((1, 3, H_SIZE)))
    with pytest.raises(TypeError, match="x"):
        reference.gru(x.astype(complex), sd)
    bad = dict(sd, weight_hh_l0=sd["weight_hh_l0"][:, :-1])
    with pytest.raises(ValueError, match="weight_hh_l0"):
        reference.gru(x, bad)
    with pytest.raises(ValueError, match="weight_hr_l0"):
        reference.gru(x, dict(sd, weight_hr_l0=np.zeros((2, H_SIZE))))
    with pytest.raises(ValueError, match="unexpected"):
        reference.gru(x, dict(sd, weight_hh_l1=np.zeros((3 * H_SIZE, H_SIZE))))
    with pytest.raises(ValueError, match="bias_hh_l0"):
        reference.gru(x, {k: v for k, v in sd.items() if k != "bias_hh_l0"})
