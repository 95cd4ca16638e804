"""gatedrnn.LSTMCell and gatedrnn.GRUCell against the float64 reference, under every ISA."""

import numpy as np
import pytest

import gatedrnn
from gatedrnn import reference

HIDDEN = (1, 7, 8, 15, 16, 17, 31, 33, 65, 129)
INPUTS = (1, 3, 16, 17, 5, 32, 33, 8, 64, 2)
KINDS = ("lstm", "gru", "gru_nolbr")


def make_cell(kind, I, H, *, seed=0, bias=True):
    if kind == "lstm":
        return gatedrnn.LSTMCell(I, H, bias=bias, seed=seed)
    return gatedrnn.GRUCell(I, H, bias=bias, seed=seed, linear_before_reset=(kind == "gru"))


def random_state(kind, rng, lead, H):
    h = (0.5 * rng.standard_normal(lead + (H,))).astype(np.float32)
    if kind == "lstm":
        return h, (0.5 * rng.standard_normal(lead + (H,))).astype(np.float32)
    return h


def run_cell(kind, cell, x, state):
    """Returns a list of outputs: [h, c] or [h]."""
    if kind == "lstm":
        out = cell(x, state)
        assert isinstance(out, tuple) and len(out) == 2
        return list(out)
    return [cell(x, state)]


def run_reference(kind, cell, x, state):
    sd = cell.state_dict()
    if kind == "lstm":
        return list(reference.lstm_cell(x, sd, state))
    return [reference.gru_cell(x, sd, state, linear_before_reset=(kind == "gru"))]


def check(kind, I, H, B, rng, assert_close, *, bias=True, with_state=False, unbatched=False, seed=0):
    cell = make_cell(kind, I, H, bias=bias, seed=seed)
    lead = () if unbatched else (B,)
    x = rng.standard_normal(lead + (I,)).astype(np.float32)
    state = random_state(kind, rng, lead, H) if with_state else None
    got = run_cell(kind, cell, x, state)
    want = run_reference(kind, cell, x, state)
    for name, a, b in zip(("h", "c"), got, want):
        assert a.shape == lead + (H,)
        assert_close(a, b, I + H, name)
    return cell, x, state, got


CELL_CASES = []
for _k, _H in enumerate(HIDDEN):
    CELL_CASES.append((_H, 1 + _k % 5, INPUTS[_k]))
    CELL_CASES.append((_H, 1 + (_k + 3) % 5, INPUTS[(_k + 5) % len(INPUTS)]))


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("with_state", [False, True], ids=["nostate", "state"])
@pytest.mark.parametrize("H,B,I", CELL_CASES, ids=[f"H{c[0]}-B{c[1]}-I{c[2]}" for c in CELL_CASES])
def test_cell_grid(isa, kind, H, B, I, with_state, rng, assert_close):
    check(kind, I, H, B, rng, assert_close, with_state=with_state, seed=H)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("H", (1, 8, 17, 65))
def test_cell_no_bias(isa, kind, H, rng, assert_close):
    cell, *_ = check(kind, 9, H, 3, rng, assert_close, bias=False, with_state=True)
    assert set(cell.state_dict()) == {"weight_ih", "weight_hh"}


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("with_state", [False, True], ids=["nostate", "state"])
@pytest.mark.parametrize("H", (1, 16, 33))
def test_cell_unbatched(isa, kind, H, with_state, rng, assert_close):
    """(I,) input and (H,) states; same numbers as a batch of one."""
    cell, x, state, got = check(kind, 5, H, 1, rng, assert_close, with_state=with_state, unbatched=True)
    if state is not None:
        state = tuple(s[None] for s in state) if kind == "lstm" else state[None]
    batched = run_cell(kind, cell, x[None], state)
    for a, b in zip(got, batched):
        np.testing.assert_array_equal(a, b[0])  # one code path: bitwise equal


@pytest.mark.parametrize("kind", KINDS)
def test_cell_zero_state_equals_none(isa, kind, rng):
    cell = make_cell(kind, 6, 17)
    x = rng.standard_normal((4, 6)).astype(np.float32)
    zero = (np.zeros((4, 17), np.float32),) * 2 if kind == "lstm" else np.zeros((4, 17), np.float32)
    for a, b in zip(run_cell(kind, cell, x, None), run_cell(kind, cell, x, zero)):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("H", (8, 33))
def test_cell_loop_matches_layer(isa, kind, H, rng):
    """Stepping the cell through a sequence gives the one-layer network's outputs."""
    I, B, T = 5, 3, 9
    cell = make_cell(kind, I, H, seed=3)
    if kind == "lstm":
        layer = gatedrnn.LSTM(I, H, seed=99)
    else:
        layer = gatedrnn.GRU(I, H, seed=99, linear_before_reset=(kind == "gru"))
    layer.load_state_dict({f"{k}_l0": v for k, v in cell.state_dict().items()})
    x = rng.standard_normal((T, B, I)).astype(np.float32)
    state0 = random_state(kind, rng, (B,), H)
    if kind == "lstm":
        y, (h_n, c_n) = layer(x, (state0[0][None], state0[1][None]))
    else:
        y, h_n = layer(x, state0[None])
    state = state0
    for t in range(T):
        out = run_cell(kind, cell, x[t], state)
        np.testing.assert_allclose(out[0], y[t], rtol=1e-5, atol=1e-5)
        state = tuple(out) if kind == "lstm" else out[0]
    np.testing.assert_allclose(out[0], h_n[0], rtol=1e-5, atol=1e-5)
    if kind == "lstm":
        np.testing.assert_allclose(out[1], c_n[0], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("kind", KINDS)
def test_cell_inputs_not_modified_and_fresh_outputs(isa, kind, rng):
    cell = make_cell(kind, 4, 8)
    x = rng.standard_normal((3, 4)).astype(np.float32)
    state = random_state(kind, rng, (3,), 8)
    inputs = [x] + (list(state) if kind == "lstm" else [state])
    copies = [a.copy() for a in inputs]
    outs = run_cell(kind, cell, x, state)
    for a, b in zip(inputs, copies):
        np.testing.assert_array_equal(a, b)
    for o in outs:
        assert o.dtype == np.float32
        for a in inputs:
            assert not np.shares_memory(o, a)


@pytest.mark.parametrize("kind", KINDS)
def test_cell_attributes(kind):
    c = make_cell(kind, 5, 7, bias=False)
    assert (c.input_size, c.hidden_size, c.bias) == (5, 7, False)
    if kind != "lstm":
        assert c.linear_before_reset == (kind == "gru")
