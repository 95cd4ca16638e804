"""gatedrnn.LSTM and gatedrnn.GRU against the float64 reference, under every ISA.

The shape grid is a covering set rather than a cartesian product: every hidden
size (SIMD tile boundaries 1, 7, 8, 15, 16, 17, 31, 33, 65, 129) with two
(B, T, I) combinations, every batch size 1..5 with three hidden sizes, every
T in 1..20, then every option (layers, bias, batch_first, bidirectional,
proj_size, initial states, unbatched input, lengths, GRU's
linear_before_reset) alone and combined, plus seeded random configurations.
"""

import threading

import numpy as np
import pytest

import gatedrnn
from gatedrnn import reference

HIDDEN = (1, 7, 8, 15, 16, 17, 31, 33, 65, 129)
INPUTS = (1, 3, 16, 17, 5, 32, 33, 8, 64, 2)
KINDS = ("lstm", "gru", "gru_nolbr")  # gru = linear_before_reset=True

# The kernels compute every output as one chain of multiply-adds in a fixed order,
# whatever the batch size, a row's position in the batch, the layout or the tiling:
# the same numbers along different paths (a row alone vs in a batch, batch_first vs
# time-major, full lengths vs none) are bitwise equal.
def assert_same(a, b):
    np.testing.assert_array_equal(a, b)


# --------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------


def make_model(kind, I, H, *, seed=0, **opts):
    if kind == "lstm":
        return gatedrnn.LSTM(I, H, seed=seed, **opts)
    assert opts.get("proj_size", 0) == 0
    opts.pop("proj_size", None)
    return gatedrnn.GRU(I, H, seed=seed, linear_before_reset=(kind == "gru"), **opts)


def dot_length(I, H, D=1, proj_size=0):
    """Longest dot product feeding one output value (for the tolerance)."""
    H_out = proj_size or H
    return max(I, D * H_out) + H_out + (H if proj_size else 0)


def random_state(kind, rng, L, D, B, H, proj_size=0, unbatched=False):
    H_out = proj_size or H
    lead = (L * D,) if unbatched else (L * D, B)
    h0 = (0.5 * rng.standard_normal(lead + (H_out,))).astype(np.float32)
    if kind != "lstm":
        return h0
    c0 = (0.5 * rng.standard_normal(lead + (H,))).astype(np.float32)
    return (h0, c0)


def run_model(kind, model, x, state, lengths):
    """Call the model; return (y, [h_n, c_n]) or (y, [h_n])."""
    kw = {} if lengths is None else {"lengths": lengths}
    if kind == "lstm":
        y, (h, c) = model(x, state, **kw)
        return y, [h, c]
    y, h = model(x, state, **kw)
    return y, [h]


def run_reference(kind, model, x, state, lengths, batch_first):
    sd = model.state_dict()
    if kind == "lstm":
        y, (h, c) = reference.lstm(x, sd, state, batch_first=batch_first, lengths=lengths)
        return y, [h, c]
    y, h = reference.gru(
        x, sd, state, batch_first=batch_first, lengths=lengths,
        linear_before_reset=(kind == "gru"),
    )
    return y, [h]


def expected_shapes(kind, T, B, H, L, D, proj_size, batch_first, unbatched):
    H_out = proj_size or H
    if unbatched:
        y = (T, D * H_out)
        states = [(L * D, H_out)] + ([(L * D, H)] if kind == "lstm" else [])
    else:
        y = (B, T, D * H_out) if batch_first else (T, B, D * H_out)
        states = [(L * D, B, H_out)] + ([(L * D, B, H)] if kind == "lstm" else [])
    return y, states


def check_case(
    kind, I, H, B, T, rng, assert_close, *, num_layers=1, bias=True, batch_first=False,
    bidirectional=False, proj_size=0, with_state=False, lengths=None, unbatched=False,
    seed=0,
):
    """Build a model, run it and the reference on the same data, compare everything."""
    L, D = num_layers, 2 if bidirectional else 1
    model = make_model(
        kind, I, H, seed=seed, num_layers=L, bias=bias, batch_first=batch_first,
        bidirectional=bidirectional, proj_size=proj_size,
    )
    if unbatched:
        x = rng.standard_normal((T, I)).astype(np.float32)
    elif batch_first:
        x = rng.standard_normal((B, T, I)).astype(np.float32)
    else:
        x = rng.standard_normal((T, B, I)).astype(np.float32)
    state = random_state(kind, rng, L, D, B, H, proj_size, unbatched) if with_state else None
    if lengths is not None:
        lengths = np.asarray(lengths, dtype=np.int64)

    y, states = run_model(kind, model, x, state, lengths)
    y_ref, states_ref = run_reference(kind, model, x, state, lengths, batch_first)

    y_shape, state_shapes = expected_shapes(kind, T, B, H, L, D, proj_size, batch_first, unbatched)
    assert y.shape == y_shape
    assert [s.shape for s in states] == state_shapes
    K = dot_length(I, H, D, proj_size)
    assert_close(y, y_ref, K, "y")
    for name, s, s_ref in zip(("h_n", "c_n"), states, states_ref):
        assert_close(s, s_ref, K, name)

    if lengths is not None:
        yt = y.transpose(1, 0, 2) if batch_first else y  # (T, B, F)
        for b, n in enumerate(lengths):
            assert np.all(yt[n:, b] == 0), f"outputs past length {n} of row {b} are not zero"
    return model, x, state, y, states


# --------------------------------------------------------------------------------------
# shape grid
# --------------------------------------------------------------------------------------

HIDDEN_CASES = []
for _k, _H in enumerate(HIDDEN):
    HIDDEN_CASES.append((_H, 1 + _k % 5, 1 + (7 * _k) % 20, INPUTS[_k]))
    HIDDEN_CASES.append((_H, 1 + (_k + 2) % 5, 20 - _k, INPUTS[(_k + 3) % len(INPUTS)]))


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("H,B,T,I", HIDDEN_CASES, ids=[f"H{c[0]}-B{c[1]}-T{c[2]}-I{c[3]}" for c in HIDDEN_CASES])
def test_hidden_grid(isa, kind, H, B, T, I, rng, assert_close):
    check_case(kind, I, H, B, T, rng, assert_close, seed=H)


BATCH_CASES = [(B, H) for B in range(1, 6) for H in (8, 17, 33)]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("B,H", BATCH_CASES, ids=[f"B{b}-H{h}" for b, h in BATCH_CASES])
def test_batch_grid(isa, kind, B, H, rng, assert_close):
    check_case(kind, 16 + B % 2, H, B, 3 + 2 * B, rng, assert_close, seed=B, with_state=B % 2 == 0)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("T", range(1, 21), ids=[f"T{t}" for t in range(1, 21)])
def test_time_grid(isa, kind, T, rng, assert_close):
    H = HIDDEN[T % len(HIDDEN)]
    check_case(kind, INPUTS[(T + 1) % len(INPUTS)], H, 1 + T % 5, T, rng, assert_close, seed=T)


# --------------------------------------------------------------------------------------
# options
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bidir"])
@pytest.mark.parametrize("num_layers", [1, 2, 3])
def test_layers_and_directions(isa, kind, num_layers, bidirectional, rng, assert_close):
    check_case(kind, 5, 17, 3, 7, rng, assert_close, num_layers=num_layers,
               bidirectional=bidirectional, with_state=True)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bidir"])
def test_no_bias(isa, kind, bidirectional, rng, assert_close):
    model, *_ = check_case(kind, 6, 16, 2, 9, rng, assert_close, bias=False, num_layers=2,
                           bidirectional=bidirectional, with_state=True)
    assert not any(k.startswith("bias") for k in model.state_dict())


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bidir"])
def test_batch_first(isa, kind, bidirectional, rng, assert_close):
    _, x, state, y, states = check_case(
        kind, 4, 9, 3, 6, rng, assert_close, batch_first=True, num_layers=2,
        bidirectional=bidirectional, with_state=True,
    )
    # Same weights with batch_first=False on the transposed input: same numbers.
    seq = make_model(kind, 4, 9, seed=0, num_layers=2, bidirectional=bidirectional)
    y2, states2 = run_model(kind, seq, np.ascontiguousarray(x.transpose(1, 0, 2)), state, None)
    assert_same(y, y2.transpose(1, 0, 2))
    for s, s2 in zip(states, states2):
        assert_same(s, s2)


PROJ_CASES = [
    # H, P, num_layers, bidirectional
    (17, 5, 1, False),
    (33, 16, 1, False),
    (8, 1, 2, False),
    (16, 15, 1, True),
    (17, 5, 2, True),
    (33, 16, 3, True),
    (65, 31, 1, False),
    (129, 8, 1, False),
]


@pytest.mark.parametrize("H,P,L,bidir", PROJ_CASES, ids=[f"H{c[0]}-P{c[1]}-L{c[2]}-{'bi' if c[3] else 'uni'}" for c in PROJ_CASES])
@pytest.mark.parametrize("with_state", [False, True], ids=["nostate", "state"])
def test_lstm_proj(isa, H, P, L, bidir, with_state, rng, assert_close):
    check_case("lstm", 7, H, 3, 8, rng, assert_close, proj_size=P, num_layers=L,
               bidirectional=bidir, with_state=with_state)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bidir"])
def test_zero_state_equals_none(isa, kind, bidirectional, rng):
    L, D, B, H = 2, 2 if bidirectional else 1, 3, 7
    proj = 3 if kind == "lstm" else 0
    model = make_model(kind, 5, H, num_layers=L, bidirectional=bidirectional, proj_size=proj)
    x = rng.standard_normal((6, B, 5)).astype(np.float32)
    zero = random_state(kind, rng, L, D, B, H, proj)
    zero = tuple(np.zeros_like(s) for s in zero) if kind == "lstm" else np.zeros_like(zero)
    y1, s1 = run_model(kind, model, x, None, None)
    y2, s2 = run_model(kind, model, x, zero, None)
    np.testing.assert_array_equal(y1, y2)
    for a, b in zip(s1, s2):
        np.testing.assert_array_equal(a, b)


UNBATCHED_CASES = [
    # kind, H, num_layers, bidirectional, proj_size
    ("lstm", 8, 1, False, 0),
    ("lstm", 17, 2, True, 5),
    ("gru", 16, 1, True, 0),
    ("gru", 33, 2, False, 0),
    ("gru_nolbr", 15, 2, True, 0),
]


@pytest.mark.parametrize("kind,H,L,bidir,P", UNBATCHED_CASES, ids=[f"{c[0]}-H{c[1]}-L{c[2]}-{'bi' if c[3] else 'uni'}-P{c[4]}" for c in UNBATCHED_CASES])
@pytest.mark.parametrize("with_state", [False, True], ids=["nostate", "state"])
@pytest.mark.parametrize("batch_first", [False, True], ids=["seqfirst", "batchfirst"])
def test_unbatched(isa, kind, H, L, bidir, P, with_state, batch_first, rng, assert_close):
    """(T, I) input (always time-major, whatever batch_first says), 2-D states."""
    model, x, state, y, states = check_case(
        kind, 6, H, 1, 7, rng, assert_close, num_layers=L, bidirectional=bidir, proj_size=P,
        with_state=with_state, unbatched=True, batch_first=batch_first,
    )
    # the same as a batch of one
    if state is not None:
        state = tuple(s[:, None] for s in state) if kind == "lstm" else state[:, None]
    xb = x[:, None] if not batch_first else x[None]
    yb, statesb = run_model(kind, model, xb, state, None)
    yb = yb[:, 0] if not batch_first else yb[0]
    assert_same(y, yb)
    for s, sb in zip(states, statesb):
        assert_same(s, sb[:, 0])


# --------------------------------------------------------------------------------------
# lengths
# --------------------------------------------------------------------------------------

LENGTH_CASES = [
    # kind, H, num_layers, bidirectional, proj_size, T, lengths
    ("lstm", 8, 1, False, 0, 6, [6, 0, 3, 1, 5]),
    ("lstm", 17, 1, True, 0, 9, [2, 9, 0]),
    ("lstm", 17, 2, True, 5, 8, [8, 0, 3, 1, 7]),
    ("lstm", 33, 3, True, 0, 10, [1, 10, 4, 0]),
    ("lstm", 16, 2, False, 15, 5, [5, 5]),
    ("gru", 8, 1, False, 0, 6, [6, 0, 3, 1, 5]),
    ("gru", 17, 2, True, 0, 8, [8, 0, 3, 1, 7]),
    ("gru", 31, 3, True, 0, 10, [1, 10, 4, 0]),
    ("gru_nolbr", 16, 1, True, 0, 9, [2, 9, 0]),
    ("gru_nolbr", 17, 2, True, 0, 8, [8, 0, 3, 1, 7]),
    ("gru_nolbr", 65, 1, False, 0, 4, [4, 4, 4]),
]


@pytest.mark.parametrize(
    "kind,H,L,bidir,P,T,lengths", LENGTH_CASES,
    ids=[f"{c[0]}-H{c[1]}-L{c[2]}-{'bi' if c[3] else 'uni'}-P{c[4]}-T{c[5]}" for c in LENGTH_CASES],
)
@pytest.mark.parametrize("with_state", [False, True], ids=["nostate", "state"])
@pytest.mark.parametrize("batch_first", [False, True], ids=["seqfirst", "batchfirst"])
def test_lengths(isa, kind, H, L, bidir, P, T, lengths, with_state, batch_first, rng, assert_close):
    model, x, state, y, states = check_case(
        kind, 5, H, len(lengths), T, rng, assert_close, num_layers=L, bidirectional=bidir,
        proj_size=P, with_state=with_state, lengths=lengths, batch_first=batch_first,
    )
    # Reference-free check: each row equals the row run alone on its valid prefix.
    xt = x.transpose(1, 0, 2) if batch_first else x  # (T, B, I)
    yt = y.transpose(1, 0, 2) if batch_first else y
    seq_model = make_model(kind, 5, H, num_layers=L, bidirectional=bidir, proj_size=P)
    seq_model.load_state_dict(model.state_dict())
    for b, n in enumerate(lengths):
        row_state = None
        if state is not None:
            row_state = tuple(s[:, b:b + 1] for s in state) if kind == "lstm" else state[:, b:b + 1]
        if n == 0:
            # final state is the initial state (zeros without one), bit for bit
            for i, s in enumerate(states):
                init = np.zeros_like(s[:, b]) if row_state is None else (
                    row_state[i] if kind == "lstm" else row_state)[:, 0]
                np.testing.assert_array_equal(s[:, b], init)
            continue
        y1, states1 = run_model(kind, seq_model, np.ascontiguousarray(xt[:n, b:b + 1]), row_state, None)
        assert_same(yt[:n, b], y1[:, 0])
        for s, s1 in zip(states, states1):
            assert_same(s[:, b], s1[:, 0])


@pytest.mark.parametrize("kind", KINDS)
def test_full_lengths_equal_no_lengths(isa, kind, rng):
    model = make_model(kind, 5, 17, num_layers=2, bidirectional=True)
    x = rng.standard_normal((7, 4, 5)).astype(np.float32)
    y0, s0 = run_model(kind, model, x, None, None)
    y1, s1 = run_model(kind, model, x, None, np.full(4, 7))
    assert_same(y1, y0)
    for a, b in zip(s1, s0):
        assert_same(a, b)


@pytest.mark.parametrize("kind", KINDS)
def test_all_zero_lengths(isa, kind, rng):
    L, D, B, H, P = 2, 2, 3, 9, (4 if kind == "lstm" else 0)
    model = make_model(kind, 5, H, num_layers=L, bidirectional=True, proj_size=P)
    x = rng.standard_normal((6, B, 5)).astype(np.float32)
    state = random_state(kind, rng, L, D, B, H, P)
    y, states = run_model(kind, model, x, state, np.zeros(B, dtype=np.int64))
    assert y.shape == (6, B, D * (P or H))
    assert np.all(y == 0)
    for s, s0 in zip(states, state if kind == "lstm" else [state]):
        np.testing.assert_array_equal(s, s0)


@pytest.mark.parametrize("kind", KINDS)
def test_lengths_container_types(isa, kind, rng):
    """lists, int32, int64 and unsigned lengths give the same result."""
    model = make_model(kind, 3, 8, bidirectional=True)
    x = rng.standard_normal((5, 4, 3)).astype(np.float32)
    want = run_model(kind, model, x, None, np.array([5, 0, 2, 3], dtype=np.int64))
    for lengths in ([5, 0, 2, 3], (5, 0, 2, 3), np.array([5, 0, 2, 3], np.int32),
                    np.array([5, 0, 2, 3], np.uint8), np.array([5, 9, 0, 9, 2, 9, 3], np.int64)[::2]):
        got = run_model(kind, model, x, None, lengths)
        np.testing.assert_array_equal(got[0], want[0])
        for a, b in zip(got[1], want[1]):
            np.testing.assert_array_equal(a, b)


# --------------------------------------------------------------------------------------
# seeded random configurations (every option at once)
# --------------------------------------------------------------------------------------


def _random_config(seed):
    r = np.random.default_rng(1000 + seed)
    kind = KINDS[seed % 3]
    H = int(r.choice(HIDDEN))
    L = int(r.integers(1, 4))
    T = int(r.integers(1, 21 if L == 1 else 11))
    B = int(r.integers(1, 6))
    cfg = dict(
        kind=kind, I=int(r.choice(INPUTS)), H=H, B=B, T=T, num_layers=L,
        bias=bool(r.random() < 0.75), batch_first=bool(r.random() < 0.5),
        bidirectional=bool(r.random() < 0.5), with_state=bool(r.random() < 0.5),
        unbatched=bool(r.random() < 0.2),
        proj_size=int(r.integers(1, H)) if kind == "lstm" and H > 1 and r.random() < 0.5 else 0,
    )
    if not cfg["unbatched"] and r.random() < 0.5:
        lengths = r.integers(0, T + 1, size=B)
        lengths[r.integers(0, B)] = T
        cfg["lengths"] = [int(v) for v in lengths]
    return cfg


RANDOM_CONFIGS = [_random_config(s) for s in range(36)]


def _cfg_id(c):
    flags = "".join(f for f, on in (("-nobias", not c["bias"]), ("-bf", c["batch_first"]),
                                    ("-bi", c["bidirectional"]), ("-st", c["with_state"]),
                                    ("-unb", c["unbatched"]), ("-len", "lengths" in c)) if on)
    return f"{c['kind']}-I{c['I']}-H{c['H']}-P{c['proj_size']}-L{c['num_layers']}-B{c['B']}-T{c['T']}{flags}"


@pytest.mark.parametrize("cfg", RANDOM_CONFIGS, ids=[_cfg_id(c) for c in RANDOM_CONFIGS])
def test_random_configs(isa, cfg, rng, assert_close):
    cfg = dict(cfg)
    kind, I, H, B, T = (cfg.pop(k) for k in ("kind", "I", "H", "B", "T"))
    check_case(kind, I, H, B, T, rng, assert_close, seed=7, **cfg)


try:
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st
except ImportError:  # pragma: no cover - hypothesis is in the `test` extra
    st = None

if st is not None:

    @st.composite
    def _configs(draw):
        kind = draw(st.sampled_from(KINDS))
        H = draw(st.sampled_from(HIDDEN))
        L = draw(st.integers(1, 3))
        T = draw(st.integers(1, 20 if L == 1 else 8))
        B = draw(st.integers(1, 5))
        cfg = dict(
            kind=kind, I=draw(st.sampled_from(INPUTS)), H=H, B=B, T=T, num_layers=L,
            bias=draw(st.booleans()), batch_first=draw(st.booleans()),
            bidirectional=draw(st.booleans()), with_state=draw(st.booleans()),
            proj_size=draw(st.integers(0, H - 1)) if kind == "lstm" else 0,
        )
        if draw(st.booleans()):
            cfg["lengths"] = draw(st.lists(st.integers(0, T), min_size=B, max_size=B))
        return cfg

    @settings(max_examples=25, deadline=None, derandomize=True, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
    @given(cfg=_configs(), data_seed=st.integers(0, 2**32 - 1))
    def test_hypothesis_configs_every_isa(assert_close, cfg, data_seed):
        """Random configurations, each run under every available ISA.

        (``assert_close`` is a stateless function, so sharing the fixture between
        examples is safe.)
        """
        cfg = dict(cfg)
        kind, I, H, B, T = (cfg.pop(k) for k in ("kind", "I", "H", "B", "T"))
        previous = gatedrnn.selected_isa()
        try:
            for name in gatedrnn.available_isas():
                gatedrnn.set_isa(name)
                check_case(kind, I, H, B, T, np.random.default_rng(data_seed), assert_close,
                           seed=data_seed % 1000, **cfg)
        finally:
            gatedrnn.set_isa(previous)


# --------------------------------------------------------------------------------------
# calling conventions: inputs untouched, threads, concurrency
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_inputs_not_modified(isa, kind, rng):
    model = make_model(kind, 4, 8, num_layers=2, bidirectional=True, proj_size=3 if kind == "lstm" else 0)
    x = rng.standard_normal((5, 3, 4)).astype(np.float32)
    state = random_state(kind, rng, 2, 2, 3, 8, 3 if kind == "lstm" else 0)
    lengths = np.array([5, 2, 0])
    copies = [x.copy(), lengths.copy()] + [s.copy() for s in (state if kind == "lstm" else [state])]
    y, states = run_model(kind, model, x, state, lengths)
    for orig, copy in zip([x, lengths] + list(state if kind == "lstm" else [state]), copies):
        np.testing.assert_array_equal(orig, copy)
    # outputs are fresh arrays, not views of the inputs
    for out in [y] + states:
        for inp in [x] + list(state if kind == "lstm" else [state]):
            assert not np.shares_memory(out, inp)


@pytest.mark.parametrize("kind", KINDS)
def test_read_only_inputs(isa, kind, rng):
    model = make_model(kind, 4, 8, bidirectional=True)
    x = rng.standard_normal((5, 3, 4)).astype(np.float32)
    state = random_state(kind, rng, 1, 2, 3, 8)
    want = run_model(kind, model, x, state, None)
    x.setflags(write=False)
    for s in (state if kind == "lstm" else [state]):
        s.setflags(write=False)
    got = run_model(kind, model, x, state, None)
    np.testing.assert_array_equal(got[0], want[0])


@pytest.mark.parametrize("kind", KINDS)
def test_thread_count_does_not_change_results(isa, kind, rng):
    """The design promises bitwise identical results for any thread count."""
    x = rng.standard_normal((12, 5, 16)).astype(np.float32)
    before = gatedrnn.get_num_threads()
    try:
        results = []
        for n in (1, 2):
            gatedrnn.set_num_threads(n)
            assert gatedrnn.get_num_threads() == n
            model = make_model(kind, 16, 129, num_layers=2, bidirectional=True)
            results.append(run_model(kind, model, x, None, [12, 3, 0, 7, 12]))
        for n in (1, 2):
            model = make_model(kind, 16, 129, num_layers=2, bidirectional=True, num_threads=n)
            assert model.num_threads == n
            results.append(run_model(kind, model, x, None, [12, 3, 0, 7, 12]))
    finally:
        gatedrnn.set_num_threads(before)
    for y, states in results[1:]:
        np.testing.assert_array_equal(y, results[0][0])
        for a, b in zip(states, results[0][1]):
            np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("kind", KINDS)
def test_concurrent_calls_from_python_threads(isa, kind, rng):
    """The GIL is released during compute: concurrent calls must not interfere."""
    models = [make_model(kind, 8, 33, seed=s, bidirectional=True) for s in range(2)]
    xs = [rng.standard_normal((15, 3, 8)).astype(np.float32) for _ in range(4)]
    want = [run_model(kind, models[i % 2], xs[i], None, None)[0] for i in range(4)]
    got = [None] * 4
    errors = []

    def work(i):
        try:
            for _ in range(5):
                y = run_model(kind, models[i % 2], xs[i], None, None)[0]
                if got[i] is None:
                    got[i] = y
                np.testing.assert_array_equal(y, want[i])
        except BaseException as exc:  # collected and re-raised in the main thread
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]


@pytest.mark.parametrize("kind", KINDS)
def test_attributes(kind):
    m = make_model(kind, 5, 7, num_layers=2, bias=False, batch_first=True, bidirectional=True,
                   proj_size=3 if kind == "lstm" else 0)
    assert (m.input_size, m.hidden_size, m.num_layers) == (5, 7, 2)
    assert (m.bias, m.batch_first, m.bidirectional) == (False, True, True)
    if kind == "lstm":
        assert m.proj_size == 3
    else:
        assert m.linear_before_reset == (kind == "gru")
