"""Property tests (issue 5, items 3 and 5): hypothesis draws shapes and options, and checks

* LSTM, GRU (both ``linear_before_reset``), LSTMCell and GRUCell against the float64
  ``gatedrnn.reference`` (empty T and B included);
* determinism: bitwise identical results across repeated calls, thread counts, a
  sequence's position in the batch, and processes;
* fuzzing of ``load_state_dict``: random key sets, shapes, dtypes, lists, None; only
  ValueError / TypeError, exactly when the input is invalid, and a failed load leaves the
  model unchanged.

Each example runs under every ISA this machine has. ``derandomize=True``: CI runs the same
examples every time (a failure is reproducible); ``GATEDRNN_HYPOTHESIS_EXAMPLES=n`` scales
the number of examples for a longer local hunt.
"""

import os
import subprocess
import sys

import numpy as np
import pytest

import gatedrnn
from gatedrnn import reference

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

RTOL, ATOL = 1e-5, 2e-5
_SCALE = float(os.environ.get("GATEDRNN_HYPOTHESIS_EXAMPLES", "1") or 1)


def examples(n):
    return max(1, int(n * _SCALE))


def prop_settings(n):
    return settings(max_examples=examples(n), deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def each_isa(fn):
    """Run fn() under every available ISA, restoring the selected one."""
    previous = gatedrnn.selected_isa()
    try:
        for name in gatedrnn.available_isas():
            gatedrnn.set_isa(name)
            fn(name)
    finally:
        gatedrnn.set_isa(previous)


def flat(result):
    if isinstance(result, np.ndarray):
        return [result]
    y, s = result
    if isinstance(s, tuple):
        return [y, *s]
    return [y, s]


def assert_bitwise(got, want, what):
    assert len(got) == len(want)
    for i, (a, b) in enumerate(zip(got, want)):
        assert a.shape == b.shape and a.dtype == b.dtype, f"{what}[{i}]: {a.shape} {a.dtype} vs {b.shape} {b.dtype}"
        assert np.array_equal(a, b, equal_nan=True), f"{what}[{i}]: not bitwise equal"


# --------------------------------------------------------------------------------------
# strategies
# --------------------------------------------------------------------------------------

KINDS = ("lstm", "gru", "gru_nolbr")


@st.composite
def layer_configs(draw, max_T=12, max_B=5):
    kind = draw(st.sampled_from(KINDS))
    H = draw(st.integers(1, 40))
    cfg = dict(
        kind=kind,
        I=draw(st.integers(1, 20)),
        H=H,
        T=draw(st.integers(0, max_T)),
        B=draw(st.integers(0, max_B)),
        num_layers=draw(st.integers(1, 3)),
        bidirectional=draw(st.booleans()),
        bias=draw(st.booleans()),
        batch_first=draw(st.booleans()),
        proj_size=draw(st.integers(0, H - 1)) if kind == "lstm" and H > 1 and draw(st.booleans()) else 0,
        with_state=draw(st.booleans()),
        unbatched=draw(st.integers(0, 5)) == 0,
        scale=draw(st.sampled_from([1.0, 1.0, 0.1, 4.0])),
        seed=draw(st.integers(0, 2**32 - 1)),
        precision=draw(st.sampled_from(["fp32", "fp32", "bf16", "int8"])),
    )
    cfg["lengths"] = None
    if not cfg["unbatched"] and draw(st.booleans()):
        cfg["lengths"] = draw(st.lists(st.integers(0, cfg["T"]), min_size=cfg["B"], max_size=cfg["B"]))
    return cfg


def build(cfg, **extra):
    kind = cfg["kind"]
    common = dict(num_layers=cfg["num_layers"], bias=cfg["bias"], batch_first=cfg["batch_first"],
                  bidirectional=cfg["bidirectional"], seed=cfg["seed"] % 1000,
                  precision=cfg.get("precision", "fp32"), **extra)
    if kind == "lstm":
        return gatedrnn.LSTM(cfg["I"], cfg["H"], proj_size=cfg["proj_size"], **common)
    return gatedrnn.GRU(cfg["I"], cfg["H"], linear_before_reset=kind == "gru", **common)


def data(cfg, model):
    rng = np.random.default_rng(cfg["seed"])
    T, B, I, H = cfg["T"], cfg["B"], cfg["I"], cfg["H"]
    if cfg["unbatched"]:
        shape, rows = (T, I), ()
    else:
        shape, rows = ((B, T, I) if cfg["batch_first"] else (T, B, I)), (B,)
    x = (cfg["scale"] * rng.standard_normal(shape)).astype(np.float32)
    state = None
    if cfg["with_state"]:
        LD = cfg["num_layers"] * (2 if cfg["bidirectional"] else 1)
        h0 = rng.standard_normal((LD, *rows, cfg["proj_size"] or H)).astype(np.float32)
        state = (h0, rng.standard_normal((LD, *rows, H)).astype(np.float32)) if cfg["kind"] == "lstm" else h0
    return x, state


def run(model, x, state, lengths):
    return flat(model(x, state, lengths=lengths))


def run_reference(cfg, model, x, state, lengths):
    sd = model.state_dict()
    if cfg["kind"] == "lstm":
        return flat(reference.lstm(x, sd, state, batch_first=cfg["batch_first"], lengths=lengths))
    return flat(reference.gru(x, sd, state, batch_first=cfg["batch_first"], lengths=lengths,
                              linear_before_reset=cfg["kind"] == "gru"))


# --------------------------------------------------------------------------------------
# layers and cells against the reference
# --------------------------------------------------------------------------------------


@prop_settings(40)
@given(cfg=layer_configs())
def test_layers_match_reference(cfg):
    cfg = dict(cfg, precision="fp32")  # bf16 and int8 against the reference: test_precision.py
    model = build(cfg)
    x, state = data(cfg, model)
    lengths = cfg["lengths"]
    want = run_reference(cfg, model, x, state, lengths)

    def check(isa):
        got = run(model, x, state, lengths)
        for i, (a, b) in enumerate(zip(got, want)):
            assert a.dtype == np.float32 and a.shape == b.shape, (isa, i, a.shape, b.shape)
            np.testing.assert_allclose(a, b, rtol=RTOL, atol=ATOL, err_msg=f"{isa} output {i}")
        if lengths is not None:
            y = got[0].transpose(1, 0, 2) if cfg["batch_first"] else got[0]
            for b, n in enumerate(lengths):
                assert not y[n:, b].any(), f"{isa}: outputs past length {n} of row {b} not zero"

    each_isa(check)


@st.composite
def cell_configs(draw):
    return dict(
        kind=draw(st.sampled_from(KINDS)),
        I=draw(st.integers(1, 20)),
        H=draw(st.integers(1, 40)),
        B=draw(st.one_of(st.none(), st.integers(0, 5))),  # None: unbatched (input_size,)
        bias=draw(st.booleans()),
        with_state=draw(st.booleans()),
        seed=draw(st.integers(0, 2**32 - 1)),
    )


def build_cell(cfg):
    if cfg["kind"] == "lstm":
        return gatedrnn.LSTMCell(cfg["I"], cfg["H"], bias=cfg["bias"], seed=cfg["seed"] % 1000)
    return gatedrnn.GRUCell(cfg["I"], cfg["H"], bias=cfg["bias"], linear_before_reset=cfg["kind"] == "gru",
                            seed=cfg["seed"] % 1000)


@prop_settings(40)
@given(cfg=cell_configs())
def test_cells_match_reference(cfg):
    cell = build_cell(cfg)
    rng = np.random.default_rng(cfg["seed"])
    rows = () if cfg["B"] is None else (cfg["B"],)
    x = rng.standard_normal(rows + (cfg["I"],)).astype(np.float32)
    state = None
    if cfg["with_state"]:
        h = rng.standard_normal(rows + (cfg["H"],)).astype(np.float32)
        state = (h, rng.standard_normal(rows + (cfg["H"],)).astype(np.float32)) if cfg["kind"] == "lstm" else h
    sd = cell.state_dict()
    if cfg["kind"] == "lstm":
        want = flat(reference.lstm_cell(x, sd, state))
    else:
        want = [reference.gru_cell(x, sd, state, linear_before_reset=cfg["kind"] == "gru")]

    def check(isa):
        got = flat(cell(x, state))
        for i, (a, b) in enumerate(zip(got, want)):
            assert a.dtype == np.float32 and a.shape == b.shape, (isa, i, a.shape, b.shape)
            np.testing.assert_allclose(a, b, rtol=RTOL, atol=ATOL, err_msg=f"{isa} output {i}")

    each_isa(check)


# --------------------------------------------------------------------------------------
# determinism
# --------------------------------------------------------------------------------------


@prop_settings(25)
@given(cfg=layer_configs(), other=st.tuples(st.integers(1, 12), st.integers(1, 5)))
def test_repeated_calls_bitwise_identical(cfg, other):
    """The same call three times, with a call of another shape in between (the workspace is
    reused and resized): bitwise identical results."""
    model = build(cfg)
    x, state = data(cfg, model)
    T2, B2 = other
    x2 = np.ones((B2, T2, cfg["I"]) if cfg["batch_first"] else (T2, B2, cfg["I"]), np.float32)

    def check(isa):
        first = run(model, x, state, cfg["lengths"])
        for _ in range(2):
            model(x2)
            assert_bitwise(run(model, x, state, cfg["lengths"]), first, f"{isa} repeated call")

    each_isa(check)


@st.composite
def threaded_configs(draw):
    """Configurations big enough (> 4 MFLOP per call) for the core to use several threads,
    and with hidden_size >= 33 so that three threads get a block each."""
    cfg = draw(layer_configs(max_T=12, max_B=5))
    cfg["unbatched"] = False
    cfg["H"] = draw(st.integers(33, 80))
    cfg["B"] = max(cfg["B"], 1)
    cfg["num_layers"] = min(cfg["num_layers"], 2)
    if cfg["kind"] == "lstm" and cfg["proj_size"]:
        cfg["proj_size"] = draw(st.integers(1, cfg["H"] - 1))
    G = 4 if cfg["kind"] == "lstm" else 3
    D = 2 if cfg["bidirectional"] else 1
    flops_per_step = 2 * cfg["B"] * G * cfg["H"] * (cfg["I"] + (cfg["proj_size"] or cfg["H"])) * cfg["num_layers"] * D
    cfg["T"] = max(cfg["T"], min(300, -(-5_000_000 // flops_per_step)))
    if cfg["T"] * flops_per_step < 5_000_000:  # tiny layers: more rows instead
        cfg["B"] = -(-5_000_000 * cfg["B"] // (cfg["T"] * flops_per_step))
    cfg["lengths"] = None
    if draw(st.booleans()):
        lengths = draw(st.lists(st.integers(0, cfg["T"]), min_size=cfg["B"], max_size=cfg["B"]))
        lengths[0] = cfg["T"]  # keep the call big
        cfg["lengths"] = lengths
    return cfg


@prop_settings(12)
@given(cfg=threaded_configs())
def test_thread_counts_bitwise_identical(cfg):
    models = [build(cfg, num_threads=n) for n in (1, 2, 3)]
    x, state = data(cfg, models[0])

    def check(isa):
        results = [run(m, x, state, cfg["lengths"]) for m in models]
        for n, r in zip((2, 3), results[1:]):
            assert_bitwise(r, results[0], f"{isa} num_threads={n} vs 1")

    each_isa(check)


def test_cell_thread_counts_bitwise_identical():
    """A cell big enough for threads (set_num_threads drives cells)."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 300)).astype(np.float32)
    before = gatedrnn.get_num_threads()
    try:
        for cls in (gatedrnn.LSTMCell, gatedrnn.GRUCell):
            cell = cls(300, 200, seed=1)
            results = []
            for n in (1, 2, 3):
                gatedrnn.set_num_threads(n)
                results.append(flat(cell(x)))
            for r in results[1:]:
                assert_bitwise(r, results[0], cls.__name__)
    finally:
        gatedrnn.set_num_threads(before)


@prop_settings(30)
@given(cfg=layer_configs(), batch=st.integers(2, 9), data_=st.data())
def test_batch_position_bitwise_identical(cfg, batch, data_):
    """One sequence alone (batch of 1) and at row k of a bigger batch of other random rows
    (other lengths, other states): bitwise the same outputs and final states."""
    cfg = dict(cfg, B=batch, T=max(cfg["T"], 1), unbatched=False)
    k = data_.draw(st.integers(0, batch - 1), label="row")
    model = build(cfg)
    x, state = data(cfg, model)
    lengths = cfg["lengths"]
    if lengths is not None:
        lengths = data_.draw(st.lists(st.integers(0, cfg["T"]), min_size=batch, max_size=batch), label="lengths")
    bax = 0 if cfg["batch_first"] else 1  # batch axis of x and y

    def row(a, axis):
        return np.ascontiguousarray(np.take(a, [k], axis=axis))

    x1 = row(x, bax)
    state1 = None if state is None else (tuple(row(s, 1) for s in state) if isinstance(state, tuple) else row(state, 1))
    lengths1 = None if lengths is None else [lengths[k]]

    def check(isa):
        alone = run(model, x1, state1, lengths1)
        full = run(model, x, state, lengths)
        assert_bitwise([row(full[0], bax)] + [row(s, 1) for s in full[1:]], alone, f"{isa} row {k} of {batch}")

    each_isa(check)


@prop_settings(20)
@given(cfg=cell_configs(), batch=st.integers(2, 9), k=st.integers(0, 8))
def test_cell_batch_position_bitwise_identical(cfg, batch, k):
    k = k % batch
    cell = build_cell(cfg)
    rng = np.random.default_rng(cfg["seed"])
    x = rng.standard_normal((batch, cfg["I"])).astype(np.float32)
    h = rng.standard_normal((batch, cfg["H"])).astype(np.float32)
    state = (h, rng.standard_normal((batch, cfg["H"])).astype(np.float32)) if cfg["kind"] == "lstm" else h
    state1 = tuple(s[k:k + 1].copy() for s in state) if isinstance(state, tuple) else state[k:k + 1].copy()

    def check(isa):
        full = flat(cell(x, state))
        alone = flat(cell(x[k:k + 1].copy(), state1))
        assert_bitwise([f[k:k + 1] for f in full], alone, f"{isa} row {k} of {batch}")
        assert_bitwise(flat(cell(x[k], None if not isinstance(state, tuple) else (state[0][k], state[1][k]))
                            if isinstance(state, tuple) else cell(x[k], state[k])),
                       [f[0] for f in alone], f"{isa} unbatched row {k}")

    each_isa(check)


_DETERMINISM_SCRIPT = r"""
import hashlib, sys
import numpy as np
import gatedrnn
digest = hashlib.sha256()
rng = np.random.default_rng(2024)
for isa in gatedrnn.available_isas():
    gatedrnn.set_isa(isa)
    for cls, kw in [(gatedrnn.LSTM, dict(num_layers=2, bidirectional=True, proj_size=20)),
                    (gatedrnn.GRU, dict(num_layers=2, bidirectional=True)),
                    (gatedrnn.GRU, dict(linear_before_reset=False))]:
        for threads in (1, 2):
            m = cls(24, 97, seed=5, num_threads=threads, **kw)
            x = np.random.default_rng(1).standard_normal((30, 4, 24)).astype(np.float32)
            y, s = m(x, lengths=[30, 11, 0, 29])
            for a in [y] + list(s if isinstance(s, tuple) else [s]):
                digest.update(isa.encode() + a.tobytes())
print(digest.hexdigest())
"""


def test_bitwise_identical_across_processes():
    """Two fresh interpreters and this one: the same bytes (per ISA; no hidden state, no
    address-dependent arithmetic, no uninitialised memory in the results)."""
    digests = [subprocess.run([sys.executable, "-c", _DETERMINISM_SCRIPT], capture_output=True, text=True,
                              check=True, timeout=120).stdout.strip() for _ in range(2)]
    here = {}
    previous = gatedrnn.selected_isa()
    try:
        exec(compile(_DETERMINISM_SCRIPT.replace("print(digest.hexdigest())", "result = digest.hexdigest()"),
                     "<determinism>", "exec"), here)
    finally:
        gatedrnn.set_isa(previous)
    assert digests[0] == digests[1] == here["result"]


# --------------------------------------------------------------------------------------
# fuzzing load_state_dict
# --------------------------------------------------------------------------------------

FUZZ_MODELS = {
    "lstm": lambda: gatedrnn.LSTM(3, 5, num_layers=2, bidirectional=True, proj_size=2, seed=1),
    "gru": lambda: gatedrnn.GRU(3, 5, num_layers=2, bias=False, seed=1),
    "gru_nolbr": lambda: gatedrnn.GRU(3, 4, bidirectional=True, linear_before_reset=False, seed=1),
    "lstm_cell": lambda: gatedrnn.LSTMCell(3, 5, seed=1),
    "gru_cell": lambda: gatedrnn.GRUCell(3, 5, bias=False, seed=1),
}

OTHER_KEYS = ["weight_ih_l0", "weight_ih_l2", "bias_ih_l1_reverse", "weight_hr_l0", "weight_ih", "bias_hh",
              "weight_ih_l0 ", "Weight_ih_l0", "", "_l0", "weight_hh_l1_reverse", "module.weight_ih_l0"]


class _ArrayLike:
    def __init__(self, a):
        self.a = a

    def __array__(self, dtype=None, copy=None):
        return np.asarray(self.a, dtype=dtype)


class _Raises:
    def __array__(self, dtype=None, copy=None):
        raise RuntimeError("broken __array__")


VALID_DTYPES = [np.float32, np.float64, np.float16, np.longdouble, ">f8", np.int32, np.int8, np.uint16]
INVALID_DTYPES = [np.bool_, np.complex64, "U3", "M8[s]", object, [("a", np.float32)]]


@st.composite
def valid_values(draw, shape):
    """A value load_state_dict must accept for a key of ``shape``: any real dtype, list,
    __array__ object, Fortran order or reversed view."""
    a = np.random.default_rng(draw(st.integers(0, 2**16))).standard_normal(shape)
    dtype = np.dtype(draw(st.sampled_from(VALID_DTYPES)))
    if dtype.kind in "iu":  # small integers (the reference comparison stays well conditioned)
        a = np.abs(np.round(a)) if dtype.kind == "u" else np.round(a)
    a = a.astype(dtype)
    form = draw(st.sampled_from(["array", "array", "list", "arraylike", "fortran", "reversed"]))
    if form == "list":
        return a.tolist()
    if form == "arraylike":
        return _ArrayLike(a)
    if form == "fortran":
        return np.asfortranarray(a)
    if form == "reversed":
        return np.ascontiguousarray(a[::-1])[::-1]
    return a


@st.composite
def invalid_values(draw, shape):
    """Something wrong for a key of ``shape`` (or, rarely, right by accident: the test
    predicts validity itself)."""
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    choice = draw(st.sampled_from(["dtype", "shape", "transposed", "nonfinite", "ragged", "none", "scalar",
                                   "string", "raises", "empty", "list_of_none"]))
    if choice == "dtype":
        dtype = np.dtype(draw(st.sampled_from(INVALID_DTYPES)))
        if dtype.kind == "O":
            return rng.standard_normal(shape).astype(object)
        return np.zeros(shape, dtype)
    if choice == "shape":
        return rng.standard_normal(tuple(draw(st.lists(st.integers(0, 12), max_size=3)))).astype(np.float32)
    if choice == "transposed":
        return rng.standard_normal(shape[::-1] + (1,) * (len(shape) == 1)).astype(np.float32)
    if choice == "nonfinite":
        a = rng.standard_normal(shape)
        a.flat[draw(st.integers(0, a.size - 1))] = draw(st.sampled_from([np.nan, np.inf, -np.inf, 1e300]))
        return a if draw(st.booleans()) else a.tolist()
    if choice == "ragged":
        return [[1.0, 2.0], [3.0]]
    if choice == "none":
        return None
    if choice == "scalar":
        return draw(st.sampled_from([0.5, 3, np.float32(1.0), True, 1j]))
    if choice == "string":
        return "weights"
    if choice == "raises":
        return _Raises()
    if choice == "list_of_none":
        return [None] * shape[0]
    return np.zeros((0,), np.float32)


def predict_valid(value, shape):
    """Whether load_state_dict must accept ``value`` for a key of ``shape``."""
    try:
        a = np.asarray(value)
    except Exception:
        return False
    if a.dtype.kind not in "fiu" or a.shape != shape:
        return False
    with np.errstate(over="ignore", invalid="ignore"):
        return bool(np.isfinite(a.astype(np.float32)).all())


@st.composite
def fuzz_state_dicts(draw, shapes):
    """Every key valid in a random form; or that with one thing wrong (a bad value, a
    missing key, an extra key); or chaos (several of each)."""
    keys = list(shapes)
    sd = {k: draw(valid_values(shapes[k])) for k in keys}
    mode = draw(st.sampled_from(["valid", "one_bad", "one_bad", "chaos"]))
    if mode == "valid":
        return sd
    n = 1 if mode == "one_bad" else draw(st.integers(1, len(keys)))
    for _ in range(n):
        what = draw(st.sampled_from(["value", "value", "value", "missing", "extra"]))
        if what == "value":
            k = draw(st.sampled_from(keys))
            sd[k] = draw(invalid_values(shapes[k]))
        elif what == "missing":
            sd.pop(draw(st.sampled_from(keys)), None)
        else:
            k = draw(st.one_of(st.sampled_from(OTHER_KEYS), st.text(max_size=8), st.integers(0, 3), st.none()))
            sd[k] = draw(st.one_of(valid_values((2, 2)), invalid_values((2, 2))))
    return sd


@prop_settings(80)
@given(name=st.sampled_from(sorted(FUZZ_MODELS)), data_=st.data())
def test_fuzz_load_state_dict(name, data_):
    model = FUZZ_MODELS[name]()
    valid = model.state_dict()
    shapes = {k: v.shape for k, v in valid.items()}
    sd = data_.draw(fuzz_state_dicts(shapes), label="state_dict")
    is_cell = name.endswith("cell")
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3) if is_cell else (4, 2, 3)).astype(np.float32)
    before_params = model.state_dict()
    before_out = flat(model(x))

    should_load = set(sd) == set(shapes) and all(predict_valid(sd[k], shapes[k]) for k in shapes)
    try:
        model.load_state_dict(sd)
    except (ValueError, TypeError) as exc:
        assert not should_load, f"a valid state_dict was refused: {exc!r}"
        after = model.state_dict()
        for k in before_params:
            assert np.array_equal(after[k], before_params[k]), f"failed load changed {k}"
        assert_bitwise(flat(model(x)), before_out, "after a failed load")
        return
    assert should_load, "an invalid state_dict was accepted"
    after = model.state_dict()
    for k, shape in shapes.items():
        with np.errstate(over="ignore"):
            np.testing.assert_array_equal(after[k], np.asarray(np.asarray(sd[k]), dtype=np.float32), err_msg=k)
    got = flat(model(x))
    if name.startswith("lstm"):
        want = flat(reference.lstm_cell(x, after) if is_cell else reference.lstm(x, after))
    else:
        lbr = model.linear_before_reset
        want = [reference.gru_cell(x, after, linear_before_reset=lbr)] if is_cell else \
            flat(reference.gru(x, after, linear_before_reset=lbr))
    for a, b in zip(got, want):
        np.testing.assert_allclose(a, b, rtol=RTOL, atol=ATOL)


@prop_settings(20)
@given(value=st.one_of(st.none(), st.integers(), st.text(max_size=5), st.lists(st.integers(), max_size=3),
                       st.binary(max_size=4), st.floats()))
def test_fuzz_load_state_dict_not_a_mapping(value):
    model = FUZZ_MODELS["gru"]()
    before = model.state_dict()
    with pytest.raises(TypeError, match="state_dict"):
        model.load_state_dict(value)
    after = model.state_dict()
    assert all(np.array_equal(after[k], before[k]) for k in before)


@pytest.mark.parametrize("kind, options", [
    ("lstm", {}), ("lstm", {"proj_size": 7}), ("lstm", {"peepholes": True, "clip": 0.5, "input_forget": True}),
    ("lstm", {"reverse": True}), ("lstm", {"num_layers": 2, "bidirectional": True}), ("lstm", {"batch_first": True}),
    ("gru", {}), ("gru", {"bias": False}), ("gru", {"clip": 0.5, "activations": ["HardSigmoid", "Softsign"]}),
    ("gru", {"num_layers": 2, "bidirectional": True}), ("gru", {"linear_before_reset": False}),
])
@pytest.mark.parametrize("hidden", [17, 100])
@pytest.mark.parametrize("precision", ["fp32", "bf16", "int8"])
def test_folded_input_projection_matches_batch_of_one(isa, kind, options, hidden, precision):
    """Batches of 8 rows or more fold the input projection into each step (one sweep over
    [x_t, h]); a row alone projects all steps first. The multiply-adds are the same chains
    in the same order (GRU: W_in x set aside before W_hn h), so the bits must be too."""
    rng = np.random.default_rng(hidden)
    model = (gatedrnn.LSTM if kind == "lstm" else gatedrnn.GRU)(13, hidden, seed=hidden, precision=precision, **options)
    batch, T = 9, 5
    bf = options.get("batch_first", False)
    x = rng.standard_normal((batch, T, 13) if bf else (T, batch, 13)).astype(np.float32)
    lengths = [5, 1, 3, 5, 2, 5, 0, 4, 5]
    states = lambda out: out[1] if kind == "lstm" else (out[1],)  # noqa: E731
    y, s = model(x, lengths=lengths)
    for k in range(batch):
        xk = np.ascontiguousarray(x[k:k + 1] if bf else x[:, k:k + 1])
        yk, sk = model(xk, lengths=[lengths[k]])
        assert np.array_equal(y[k] if bf else y[:, k], yk[0] if bf else yk[:, 0]), f"y of row {k}"
        for a, b in zip(states((y, s)), states((yk, sk))):
            assert np.array_equal(a[:, k], b[:, 0]), f"state of row {k}"


@pytest.mark.parametrize("kind, options", [
    ("lstm", {}), ("lstm", {"proj_size": -1}), ("lstm", {"peepholes": True, "clip": 0.5}),
    ("gru", {}), ("gru", {"linear_before_reset": False}),
])
@pytest.mark.parametrize("hidden", [65, 200, 1100])
@pytest.mark.parametrize("precision", ["fp32", "bf16", "int8"])
def test_batched_steps_over_long_k_match_batch_of_one(isa, kind, options, hidden, precision):
    """Batched steps sweep k in passes of at most 1024 (partial sums saved between passes);
    a row alone runs the single-pass GEMV. Both must give the same bits, for recurrent
    widths of one pass and of several (and not a multiple of one)."""
    rng = np.random.default_rng(hidden)
    if options.get("proj_size") == -1:
        options = dict(options, proj_size=hidden - 1)  # W_hh's K = hidden - 1
    cls = gatedrnn.LSTM if kind == "lstm" else gatedrnn.GRU
    model = cls(9, hidden, seed=hidden, precision=precision, **options)
    batch, T = 7, 4
    x = rng.standard_normal((T, batch, 9)).astype(np.float32)
    lengths = [4, 1, 3, 4, 2, 4, 0]
    full = model(x, lengths=lengths)
    for k in range(batch):
        alone = model(np.ascontiguousarray(x[:, k:k + 1]), lengths=[lengths[k]])
        assert np.array_equal(full[0][:, k], alone[0][:, 0]), f"y of row {k}"
        h_full = full[1] if kind == "gru" else full[1][0]
        h_alone = alone[1] if kind == "gru" else alone[1][0]
        assert np.array_equal(h_full[:, k], h_alone[:, 0]), f"h_n of row {k}"
