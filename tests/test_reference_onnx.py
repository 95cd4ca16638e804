"""gatedrnn.reference.onnx_lstm / onnx_gru checked against onnxruntime (CPU).

Every case builds a one-node ONNX model with onnx.helper, runs it with onnxruntime on
float32 inputs, and runs the float64 reference on the very same (float32) values, so the
only differences are onnxruntime's float32 rounding. Measured with onnxruntime 1.32 on
these shapes (values of magnitude ~1, hidden sizes up to 33, up to 10 steps), the
largest difference was 5e-7 (LSTM and GRU alike; 1.2e-6 at hidden size 64), so 2e-6 is
used, relative to the value scale for the unbounded activations.

onnxruntime differs from the ONNX operator text in a few places. The reference follows
the text, and these cases are compared with onnxruntime only where both agree (all
measured with onnxruntime 1.32):

* clip: onnxruntime clamps the inputs of f and g only, never the input of h (the cell
  state passed to h); the reference does the same by default (``clip_h_input=False``);
  ``clip_h_input=True`` is the other reading of the ONNX text, h's input clamped too.
* Omitted activation_alpha/beta: onnxruntime uses the ONNX defaults for LeakyRelu
  (0.01), HardSigmoid (0.2, 0.5) and Elu (1.0) but 0 for Affine (ONNX 1, 0),
  ThresholdedRelu (ONNX 1) and ScaledTanh (1, 1). Values are consumed in order, alpha and
  beta separately, by the functions that take them, as in ONNX. Left-over values are
  ignored by onnxruntime and rejected by the reference.
* ThresholdedRelu at x == alpha: 0 in onnxruntime (x > alpha), x in the RNN operators'
  text (``x if x >= alpha``).
* sequence_lens 0: onnxruntime returns zeros in Y_h and Y_c; the reference keeps the
  initial state (packed-sequence semantics; ONNX says nothing). Y is zero in both. All
  other rows agree, and so do all-equal lengths shorter than T.
* Reverse direction with sequence_lens: onnxruntime, like the reference, reads each row's
  valid prefix backwards (t = len-1 .. 0), starting from the initial state.
* onnxruntime rejects layout=1 (so layout 1 is checked against transposed layout-0
  runs), requires hidden_size, requires 6 (GRU: 4) activation names for bidirectional
  (the reference also takes 3 / 2 for both directions), and its Softplus overflows to
  inf for inputs above ~88.7 (float32 exp): the data here stays well below.
* input_forget=1: f = 1 - i (i after its activation), identical in both.
"""

import numpy as np
import pytest

ort = pytest.importorskip("onnxruntime")
onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper  # noqa: E402

from gatedrnn import reference  # noqa: E402

ATOL = RTOL = 2e-6  # see the module docstring: measured worst case 5e-7
DIRECTIONS = ("forward", "reverse", "bidirectional")
HIDDEN_SIZES = (1, 7, 16, 17)
T_STEPS, BATCH, I_SIZE = 5, 4, 3
# Mixed lengths: full length, short, a length-1 row, and one in between.
LENGTHS = np.array([T_STEPS, 2, 1, 4], dtype=np.int32)


# --------------------------------------------------------------------------------------
# Helpers: random operands, the onnxruntime run, comparison
# --------------------------------------------------------------------------------------


def num_dirs(direction):
    return 2 if direction == "bidirectional" else 1


def f32(rng, shape, scale=1.0):
    return (scale * rng.uniform(-1.0, 1.0, size=shape)).astype(np.float32)


def lstm_operands(rng, hidden, direction, *, steps=T_STEPS, batch=BATCH, scale=0.5):
    """Random float32 LSTM inputs (layout 0), every optional input present."""
    d = num_dirs(direction)
    return dict(
        X=f32(rng, (steps, batch, I_SIZE), 1.5),
        W=f32(rng, (d, 4 * hidden, I_SIZE), scale),
        R=f32(rng, (d, 4 * hidden, hidden), scale),
        B=f32(rng, (d, 8 * hidden), scale),
        initial_h=f32(rng, (d, batch, hidden)),
        initial_c=f32(rng, (d, batch, hidden), 2.0),
        P=f32(rng, (d, 3 * hidden), scale),
    )


def gru_operands(rng, hidden, direction, *, steps=T_STEPS, batch=BATCH, scale=0.5):
    """Random float32 GRU inputs (layout 0), every optional input present."""
    d = num_dirs(direction)
    return dict(
        X=f32(rng, (steps, batch, I_SIZE), 1.5),
        W=f32(rng, (d, 3 * hidden, I_SIZE), scale),
        R=f32(rng, (d, 3 * hidden, hidden), scale),
        B=f32(rng, (d, 6 * hidden), scale),
        initial_h=f32(rng, (d, batch, hidden)),
    )


_INPUT_ORDER = {
    "LSTM": ("X", "W", "R", "B", "sequence_lens", "initial_h", "initial_c", "P"),
    "GRU": ("X", "W", "R", "B", "sequence_lens", "initial_h"),
}


def run_ort(op, operands, **attrs):
    """Run a one-node ``op`` ("LSTM"/"GRU") model; operands missing or None are omitted.

    Returns the outputs as float64 arrays (layout 0).
    """
    names, feeds, graph_inputs = [], {}, []
    for name in _INPUT_ORDER[op]:
        value = operands.get(name)
        if value is None:
            names.append("")  # an omitted optional input
            continue
        is_lens = name == "sequence_lens"
        value = np.asarray(value, dtype=np.int32 if is_lens else np.float32)
        names.append(name)
        feeds[name] = value
        graph_inputs.append(helper.make_tensor_value_info(
            name, TensorProto.INT32 if is_lens else TensorProto.FLOAT, list(value.shape)))
    while names[-1] == "":
        names.pop()
    outputs = ["Y", "Y_h", "Y_c"] if op == "LSTM" else ["Y", "Y_h"]
    hidden = operands["R"].shape[-1]
    attrs = {k: v for k, v in attrs.items() if v is not None}
    node = helper.make_node(op, names, outputs, hidden_size=hidden, **attrs)
    graph = helper.make_graph(
        [node], "rnn", graph_inputs,
        [helper.make_tensor_value_info(name, TensorProto.FLOAT, None) for name in outputs],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)])
    model.ir_version = 8
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(
        model.SerializeToString(), options, providers=["CPUExecutionProvider"]
    )
    return [out.astype(np.float64) for out in session.run(None, feeds)]


def run_ref(op, operands, **attrs):
    fn = reference.onnx_lstm if op == "LSTM" else reference.onnx_gru
    return fn(**{k: v for k, v in operands.items() if v is not None}, **attrs)


def assert_outputs_close(actual, expected, what=""):
    names = ("Y", "Y_h", "Y_c")
    assert len(actual) == len(expected)
    for name, a, e in zip(names, actual, expected):
        assert a.shape == e.shape, f"{what} {name}: shape {a.shape}, expected {e.shape}"
        np.testing.assert_allclose(a, e, rtol=RTOL, atol=ATOL, err_msg=f"{what} {name}")


def compare(op, operands, *, clip_h_input=None, **attrs):
    """Reference against onnxruntime; returns the reference outputs.

    ``clip_h_input`` (LSTM only) goes to the reference only: it is not an ONNX attribute.
    """
    extra = {} if clip_h_input is None else {"clip_h_input": clip_h_input}
    ref = run_ref(op, operands, **attrs, **extra)
    for r in ref:
        assert r.dtype == np.float64
    assert_outputs_close(run_ort(op, operands, **attrs), ref, f"{op} {attrs}")
    return ref


# --------------------------------------------------------------------------------------
# Directions, hidden sizes, sequence_lens, initial states, peepholes
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("hidden", HIDDEN_SIZES)
@pytest.mark.parametrize("direction", DIRECTIONS)
def test_lstm_matches_ort(rng, direction, hidden):
    ops = lstm_operands(rng, hidden, direction)
    y, y_h, y_c = compare("LSTM", dict(ops, sequence_lens=LENGTHS), direction=direction)
    d = num_dirs(direction)
    assert y.shape == (T_STEPS, d, BATCH, hidden)
    assert y_h.shape == y_c.shape == (d, BATCH, hidden)
    # Without sequence_lens every row runs the full length.
    compare("LSTM", ops, direction=direction)


@pytest.mark.parametrize("hidden", HIDDEN_SIZES)
@pytest.mark.parametrize("linear_before_reset", (0, 1))
@pytest.mark.parametrize("direction", DIRECTIONS)
def test_gru_matches_ort(rng, direction, linear_before_reset, hidden):
    ops = gru_operands(rng, hidden, direction)
    y, y_h = compare("GRU", dict(ops, sequence_lens=LENGTHS), direction=direction,
                     linear_before_reset=linear_before_reset)
    d = num_dirs(direction)
    assert y.shape == (T_STEPS, d, BATCH, hidden) and y_h.shape == (d, BATCH, hidden)
    compare("GRU", ops, direction=direction, linear_before_reset=linear_before_reset)


@pytest.mark.parametrize("op", ("LSTM", "GRU"))
@pytest.mark.parametrize("direction", DIRECTIONS)
def test_optional_inputs_omitted(rng, op, direction):
    """No B, P, initial states, sequence_lens: zeros / full length (ONNX defaults)."""
    ops = (lstm_operands if op == "LSTM" else gru_operands)(rng, 7, direction)
    minimal = {k: ops[k] for k in ("X", "W", "R")}
    ref = compare(op, minimal, direction=direction)
    zeros = {k: np.zeros_like(v) for k, v in ops.items() if k not in ("X", "W", "R")}
    for a, b in zip(ref, run_ref(op, dict(minimal, **zeros), direction=direction)):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("op", ("LSTM", "GRU"))
@pytest.mark.parametrize("direction", DIRECTIONS)
def test_sequence_lens_semantics(rng, op, direction):
    """Valid prefixes only: Y is zero past each length, reverse reads the prefix backwards.

    The length-0 row is compared with onnxruntime only through Y and with zero initial
    states: with non-zero ones onnxruntime returns zeros in Y_h/Y_c, the reference the
    initial state.
    """
    make = lstm_operands if op == "LSTM" else gru_operands
    ops = make(rng, 5, direction, steps=6, batch=5)
    lengths = np.array([6, 0, 3, 1, 6], dtype=np.int32)
    states = [k for k in ("initial_h", "initial_c") if k in ops]
    zero_states = {k: np.zeros_like(ops[k]) for k in states}
    compare(op, dict(ops, sequence_lens=lengths, **zero_states), direction=direction)

    ref = run_ref(op, dict(ops, sequence_lens=lengths), direction=direction)
    ort_out = run_ort(op, dict(ops, sequence_lens=lengths), direction=direction)
    valid = lengths > 0
    assert_outputs_close([ort_out[0]] + [s[:, valid] for s in ort_out[1:]],
                         [ref[0]] + [s[:, valid] for s in ref[1:]], "rows with len > 0")
    y = ref[0]
    for b, n in enumerate(lengths):
        assert not y[n:, :, b].any(), f"row {b}: Y must be zero at t >= {n}"
        # Each row equals a run of its valid prefix alone (also in reverse).
        if n:
            alone = run_ref(op, dict({k: v for k, v in ops.items() if k not in states},
                                     X=ops["X"][:n, b:b + 1],
                                     **{k: ops[k][:, b:b + 1] for k in states}),
                            direction=direction)
            np.testing.assert_allclose(y[:n, :, b:b + 1], alone[0], rtol=1e-13, atol=1e-13)
            for s, s_alone in zip(ref[1:], alone[1:]):
                np.testing.assert_allclose(s[:, b:b + 1], s_alone, rtol=1e-13, atol=1e-13)
    for k, s in zip(states, ref[1:]):
        np.testing.assert_array_equal(s[:, 1], ops[k][:, 1], err_msg=f"len 0 keeps {k}")
    if direction != "forward":
        # The test can fail: ignoring sequence_lens changes the short rows' reverse outputs.
        full = run_ref(op, ops, direction=direction)
        assert np.abs(full[0][:3, -1, 2] - y[:3, -1, 2]).max() > 1e-3


@pytest.mark.parametrize("op", ("LSTM", "GRU"))
@pytest.mark.parametrize("length", (0, 3, T_STEPS))
def test_sequence_lens_all_equal(rng, op, length):
    """All rows of the same length (onnxruntime has a separate path for it)."""
    make = lstm_operands if op == "LSTM" else gru_operands
    ops = make(rng, 7, "bidirectional")
    if length == 0:  # onnxruntime zeroes Y_h/Y_c of length-0 rows: compare zero states
        ops.update({k: np.zeros_like(ops[k]) for k in ("initial_h", "initial_c") if k in ops})
    lengths = np.full(BATCH, length, dtype=np.int32)
    compare(op, dict(ops, sequence_lens=lengths), direction="bidirectional")


# --------------------------------------------------------------------------------------
# layout = 1 (onnxruntime rejects it: compare with transposed layout-0 runs)
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("op", ("LSTM", "GRU"))
@pytest.mark.parametrize("direction", ("forward", "bidirectional"))
def test_layout_1(rng, op, direction):
    make = lstm_operands if op == "LSTM" else gru_operands
    ops = dict(make(rng, 7, direction), sequence_lens=LENGTHS)
    batch_major = dict(ops, X=ops["X"].transpose(1, 0, 2))
    for k in ("initial_h", "initial_c"):
        if k in ops:
            batch_major[k] = ops[k].transpose(1, 0, 2)  # (D, B, H) -> (B, D, H)
    ref1 = run_ref(op, batch_major, direction=direction, layout=1)
    ref0 = run_ref(op, ops, direction=direction)
    ort0 = run_ort(op, ops, direction=direction)
    as_layout1 = [ref0[0].transpose(2, 0, 1, 3)] + [s.transpose(1, 0, 2) for s in ref0[1:]]
    for a, b in zip(ref1, as_layout1):
        assert a.flags.c_contiguous
        np.testing.assert_array_equal(a, b)
    assert_outputs_close(
        ref1, [ort0[0].transpose(2, 0, 1, 3)] + [s.transpose(1, 0, 2) for s in ort0[1:]],
        "layout 1 vs transposed onnxruntime layout 0",
    )


# --------------------------------------------------------------------------------------
# clip, input_forget
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("direction", DIRECTIONS)
def test_lstm_clip(rng, direction):
    """clip=0.3 with large cell states: every gate and the cell state exceed it."""
    ops = dict(lstm_operands(rng, 7, direction, scale=1.0), sequence_lens=LENGTHS)
    clipped_gates = compare("LSTM", ops, direction=direction, clip=0.3, clip_h_input=False)
    unclipped = run_ref("LSTM", ops, direction=direction)
    assert np.abs(clipped_gates[0] - unclipped[0]).max() > 1e-2, "clip must matter here"

    # ONNX text: h's input is clipped too. onnxruntime does not clip it, so compare where
    # both readings agree: h = HardSigmoid(alpha=1, beta=0.5) is constant beyond |x| = 0.5,
    # so clamping its input at 0.6 changes nothing, while f and g still see the clip.
    d = num_dirs(direction)
    hard = dict(activations=["Sigmoid", "Tanh", "HardSigmoid"] * d,
                activation_alpha=[1.0] * d, activation_beta=[0.5] * d, clip=0.6)
    compare("LSTM", ops, direction=direction, **hard)
    # With h = Tanh the two readings differ (onnxruntime: clip_h_input=False).
    clipped_all = run_ref("LSTM", ops, direction=direction, clip=0.3, clip_h_input=True)
    assert np.abs(clipped_all[0] - clipped_gates[0]).max() > 1e-2


def test_lstm_clip_h_input_formula(rng):
    """One step, no peepholes: Y_h == o * tanh(clip(Y_c)) and Y_c itself is not clipped."""
    ops = lstm_operands(rng, 6, "forward", steps=1, scale=1.0)
    ops["P"] = None
    clip = 0.3
    _, y_h, y_c = run_ref("LSTM", ops, clip=clip, clip_h_input=True)
    assert np.abs(y_c).max() > 1.0  # the state is far outside [-clip, clip]
    w_o = ops["W"][0, 1 * 6:2 * 6].astype(np.float64)
    r_o = ops["R"][0, 1 * 6:2 * 6].astype(np.float64)
    b_o = ops["B"][0, 6:12].astype(np.float64) + ops["B"][0, 30:36]
    pre = ops["X"][0] @ w_o.T + ops["initial_h"][0] @ r_o.T + b_o
    o = 1.0 / (1.0 + np.exp(-np.clip(pre, -clip, clip)))
    np.testing.assert_allclose(y_h[0], o * np.tanh(np.clip(y_c[0], -clip, clip)),
                               rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("linear_before_reset", (0, 1))
@pytest.mark.parametrize("direction", DIRECTIONS)
def test_gru_clip(rng, direction, linear_before_reset):
    ops = dict(gru_operands(rng, 7, direction, scale=1.0), sequence_lens=LENGTHS)
    kw = dict(direction=direction, linear_before_reset=linear_before_reset)
    clipped = compare("GRU", ops, clip=0.3, **kw)
    assert np.abs(clipped[0] - run_ref("GRU", ops, **kw)[0]).max() > 1e-2


@pytest.mark.parametrize("clip", (None, 0.3))
@pytest.mark.parametrize("direction", DIRECTIONS)
def test_lstm_input_forget(rng, direction, clip):
    ops = dict(lstm_operands(rng, 7, direction), sequence_lens=LENGTHS)
    coupled = compare("LSTM", ops, direction=direction, input_forget=1, clip=clip,
                      clip_h_input=False)
    # The forget weights are ignored; without coupling they matter.
    ops_f = dict(ops, W=ops["W"].copy())
    ops_f["W"][:, 14:21] = 0.0  # forget gate rows (i, o, f, c order, H = 7)
    for a, b in zip(coupled, run_ref("LSTM", ops_f, direction=direction, input_forget=1,
                                     clip=clip, clip_h_input=False)):
        np.testing.assert_array_equal(a, b)
    separate = run_ref("LSTM", ops, direction=direction, clip=clip, clip_h_input=False)
    assert np.abs(coupled[0] - separate[0]).max() > 1e-2


def test_lstm_peepholes_matter(rng):
    ops = lstm_operands(rng, 7, "forward")
    with_p = compare("LSTM", ops)
    without = run_ref("LSTM", dict(ops, P=None))
    assert np.abs(with_p[0] - without[0]).max() > 1e-2


# --------------------------------------------------------------------------------------
# Activations
# --------------------------------------------------------------------------------------

# Explicit parameters: float32-exact, so onnxruntime's float attributes are identical.
EXPLICIT = {
    "Affine": (0.75, -0.25),
    "LeakyRelu": (0.25, None),
    "ThresholdedRelu": (0.125, None),
    "ScaledTanh": (1.5, 0.75),
    "HardSigmoid": (0.375, 0.625),
    "Elu": (0.5, None),
}
# Omitted parameters: onnxruntime agrees with the ONNX defaults only for these.
ORT_DEFAULTS_AGREE = {"LeakyRelu", "HardSigmoid", "Elu"}
NO_PARAMS = [n for n, (a, b) in reference.ONNX_ACTIVATIONS.items() if a is None and b is None]


def _activation_cases():
    for name in reference.ONNX_ACTIVATIONS:
        cases = []
        if name in EXPLICIT:
            cases.append("explicit")
        if name in NO_PARAMS or name in ORT_DEFAULTS_AGREE:
            cases.append("default")
        for case in cases:
            yield name, case


def _attrs(names, name, case):
    alpha, beta = EXPLICIT.get(name, (None, None)) if case == "explicit" else (None, None)
    # Odd spellings: the names are case-insensitive.
    names = [n.upper() if k % 2 else n.lower() for k, n in enumerate(names)]
    return dict(activations=names, activation_alpha=None if alpha is None else [alpha],
                activation_beta=None if beta is None else [beta])


@pytest.mark.parametrize("name,case", list(_activation_cases()))
def test_lstm_activation_in_each_slot(rng, name, case):
    """``name`` as f, g and h in turn (the others default); small weights keep the
    unbounded functions' values moderate."""
    ops = dict(lstm_operands(rng, 7, "forward", scale=0.3), sequence_lens=LENGTHS)
    for slot in range(3):
        names = ["Sigmoid", "Tanh", "Tanh"]
        names[slot] = name
        out = compare("LSTM", ops, **_attrs(names, name, case))
        assert np.isfinite(out[0]).all()


@pytest.mark.parametrize("name,case", list(_activation_cases()))
def test_gru_activation_in_each_slot(rng, name, case):
    ops = dict(gru_operands(rng, 7, "forward", scale=0.3), sequence_lens=LENGTHS)
    for slot in range(2):
        names = ["Sigmoid", "Tanh"]
        names[slot] = name
        for lbr in (0, 1):
            compare("GRU", ops, linear_before_reset=lbr, **_attrs(names, name, case))


def test_bidirectional_activations_consumed_in_order(rng):
    """Six names: alpha/beta are consumed forward's first, by the functions taking them;
    a short list leaves the rest at their defaults."""
    ops = dict(lstm_operands(rng, 7, "bidirectional", scale=0.3), sequence_lens=LENGTHS)
    compare("LSTM", ops, direction="bidirectional",
            activations=["HardSigmoid", "Affine", "LeakyRelu", "Sigmoid", "ScaledTanh", "Elu"],
            activation_alpha=[0.25, 0.75, 0.125, 1.25, 0.5], activation_beta=[0.5, 0.25, 0.625])
    # Short lists: the second HardSigmoid and the Elu fall back to the ONNX defaults.
    compare("LSTM", ops, direction="bidirectional",
            activations=["HardSigmoid", "Tanh", "Tanh", "HardSigmoid", "Softsign", "Elu"],
            activation_alpha=[0.25], activation_beta=[0.625])
    gops = dict(gru_operands(rng, 7, "bidirectional", scale=0.3), sequence_lens=LENGTHS)
    compare("GRU", gops, direction="bidirectional", linear_before_reset=1,
            activations=["LeakyRelu", "Softplus", "HardSigmoid", "ThresholdedRelu"],
            activation_alpha=[0.5, 0.25, 0.125], activation_beta=[0.375])


def test_omitted_parameters_use_onnx_defaults(rng):
    """Affine, ThresholdedRelu, ScaledTanh: the ONNX defaults (onnxruntime uses 0 for
    these, so the reference is compared with itself given the defaults explicitly)."""
    ops = dict(lstm_operands(rng, 7, "bidirectional", scale=0.3), sequence_lens=LENGTHS)
    names = ["Affine", "ThresholdedRelu", "ScaledTanh", "LeakyRelu", "HardSigmoid", "Elu"]
    implicit = run_ref("LSTM", ops, direction="bidirectional", activations=names)
    explicit = run_ref("LSTM", ops, direction="bidirectional", activations=names,
                       activation_alpha=[1.0, 1.0, 1.0, 0.01, 0.2, 1.0],
                       activation_beta=[0.0, 1.0, 0.5])
    for a, b in zip(implicit, explicit):
        np.testing.assert_array_equal(a, b)


def test_three_names_for_both_directions(rng):
    """The reference also takes 3 (GRU: 2) names for bidirectional (onnxruntime does not):
    both directions then use the same functions and parameters."""
    ops = lstm_operands(rng, 7, "bidirectional", scale=0.3)
    three = run_ref("LSTM", ops, direction="bidirectional",
                    activations=["LeakyRelu", "HardSigmoid", "Tanh"],
                    activation_alpha=[0.25, 0.5], activation_beta=[0.375])
    six = compare("LSTM", ops, direction="bidirectional",
                  activations=["LeakyRelu", "HardSigmoid", "Tanh"] * 2,
                  activation_alpha=[0.25, 0.5] * 2, activation_beta=[0.375] * 2)
    for a, b in zip(three, six):
        np.testing.assert_array_equal(a, b)
    gops = gru_operands(rng, 7, "bidirectional", scale=0.3)
    two = run_ref("GRU", gops, direction="bidirectional", activations=["Elu", "Softsign"])
    four = compare("GRU", gops, direction="bidirectional", activations=["Elu", "Softsign"] * 2)
    for a, b in zip(two, four):
        np.testing.assert_array_equal(a, b)


def test_activation_formulas():
    """The activation table of the ONNX RNN operators, at chosen points."""
    x = np.array([-2.0, -0.5, 0.0, 0.5, 2.0])
    act = reference.onnx_activation
    np.testing.assert_allclose(act(x, "relu"), [0, 0, 0, 0.5, 2])
    np.testing.assert_allclose(act(x, "Affine", 2.0, 1.0), 2 * x + 1)
    np.testing.assert_allclose(act(x, "Affine"), x)
    np.testing.assert_allclose(act(x, "LeakyRelu"), [-0.02, -0.005, 0, 0.5, 2])
    # ">= alpha" per the RNN operators' text: x == alpha passes (onnxruntime gives 0).
    np.testing.assert_allclose(act(x, "ThresholdedRelu", 0.5), [0, 0, 0, 0.5, 2])
    np.testing.assert_allclose(act(x, "ThresholdedRelu"), [0, 0, 0, 0, 2])
    np.testing.assert_allclose(act(x, "ScaledTanh", 2.0, 0.5), 2 * np.tanh(0.5 * x))
    np.testing.assert_allclose(act(x, "ScaledTanh"), np.tanh(x))
    np.testing.assert_allclose(act(x, "HardSigmoid"), [0.1, 0.4, 0.5, 0.6, 0.9])
    np.testing.assert_allclose(act(x, "HardSigmoid", 1.0, 0.5), [0, 0, 0.5, 1, 1])
    np.testing.assert_allclose(act(x, "Elu", 2.0), np.where(x >= 0, x, 2 * (np.exp(x) - 1)))
    np.testing.assert_allclose(act(x, "SOFTSIGN"), x / (1 + np.abs(x)))
    np.testing.assert_allclose(act(x, "Softplus"), np.log1p(np.exp(x)), rtol=1e-15)
    np.testing.assert_allclose(act(np.array([1000.0, -1000.0]), "Softplus"), [1000.0, 0.0])
    np.testing.assert_allclose(act(x, "Sigmoid"), 1 / (1 + np.exp(-x)), rtol=1e-15)
    np.testing.assert_allclose(act(x, "tanh"), np.tanh(x))


# --------------------------------------------------------------------------------------
# onnx_activation_slots and argument checking
# --------------------------------------------------------------------------------------


def test_activation_slots():
    slots = reference.onnx_activation_slots
    assert slots(None, None, None, 3) == [("Sigmoid", None, None), ("Tanh", None, None),
                                          ("Tanh", None, None)]
    assert slots(None, None, None, 2, num_directions=2) == [
        ("Sigmoid", None, None), ("Tanh", None, None)] * 2
    assert slots(["hardsigmoid", "AFFINE", "elu"], [0.1, 0.3], [0.4], 3) == [
        ("HardSigmoid", 0.1, 0.4), ("Affine", 0.3, 0.0), ("Elu", 1.0, None)]
    assert slots(["ScaledTanh", "Relu"], None, [2.0], 2, num_directions=2) == [
        ("ScaledTanh", 1.0, 2.0), ("Relu", None, None)] * 2
    assert slots(["Sigmoid", "Tanh"], [0.5], None, 2, strict=False) == [
        ("Sigmoid", None, None), ("Tanh", None, None)]
    assert set(reference.ONNX_ACTIVATIONS) == {
        "Relu", "Tanh", "Sigmoid", "Affine", "LeakyRelu", "ThresholdedRelu", "ScaledTanh",
        "HardSigmoid", "Elu", "Softsign", "Softplus"}


@pytest.mark.parametrize("args,kwargs,error,match", [
    ((["Sigmoid", "Tanh"], None, None, 3), {}, ValueError, r"activations: expected 3 names"),
    ((["Sigmoid", "Tanh", "Tanh"], None, None, 3), {"num_directions": 2}, None, None),
    ((["Sigmoid"] * 4, None, None, 3), {"num_directions": 2}, ValueError, r"3 or 6 names"),
    ((["Sigmoid", "Swish"], None, None, 2), {}, ValueError, r"activations\[1\]: unknown"),
    ((["Sigmoid", 3], None, None, 2), {}, TypeError, r"activations\[1\]: expected a str"),
    (("Sigmoid", None, None, 2), {}, TypeError, r"activations: expected a sequence"),
    ((["Sigmoid", "Tanh"], [0.5], None, 2), {}, ValueError, r"activation_alpha: 1 value"),
    ((["Sigmoid", "Tanh"], None, [0.5], 2), {}, ValueError, r"activation_beta: 1 value"),
    ((["Elu", "Tanh"], ["a"], None, 2), {}, TypeError, r"activation_alpha: expected floats"),
    ((["Elu", "Tanh"], [np.nan], None, 2), {}, ValueError, r"activation_alpha: expected finite"),
    ((None, None, None, 4), {}, ValueError, r"count: expected 3 \(LSTM\) or 2 \(GRU\)"),
])
def test_activation_slots_errors(args, kwargs, error, match):
    if error is None:
        assert len(reference.onnx_activation_slots(*args, **kwargs)) == 6
        return
    with pytest.raises(error, match=match):
        reference.onnx_activation_slots(*args, **kwargs)


def _bad_inputs():
    """(op, changes to the operands, attributes, error, message pattern); T=6, B=5, H=4."""
    H = 4
    z = np.zeros
    yield "LSTM", {"X": z((5, 2))}, {}, ValueError, r"X: expected a 3-D array \(T, B, I\)"
    yield "LSTM", {"X": z((5, 2))}, {"layout": 1}, ValueError, r"X: .*\(B, T, I\)"
    yield "LSTM", {"X": np.array([["a"]])}, {}, TypeError, r"X: expected a real numeric"
    yield "LSTM", {"W": z((1, 4 * H, 2))}, {}, ValueError, r"W: expected shape \(1, 16, 3\)"
    yield "LSTM", {"R": z((1, 3 * H, H))}, {}, ValueError, r"R: expected shape \(1, 16, 4\)"
    yield ("LSTM", {}, {"direction": "bidirectional"}, ValueError,
           r"R: expected shape \(2, 16, 4\)")
    yield "LSTM", {"B": z((1, 4 * H))}, {}, ValueError, r"B: expected shape \(1, 32\)"
    yield "LSTM", {"P": z((1, 4 * H))}, {}, ValueError, r"P: expected shape \(1, 12\)"
    yield ("LSTM", {"initial_h": z((1, 2, H))}, {}, ValueError,
           r"initial_h: expected shape \(1, 5, 4\) \(layout=0\)")
    yield ("LSTM", {"initial_h": z((6, 1, H)), "initial_c": z((1, 5, H))}, {"layout": 1},
           ValueError, r"initial_c: expected shape \(6, 1, 4\) \(layout=1\)")
    yield ("LSTM", {"sequence_lens": np.array([1, 2])}, {}, ValueError,
           r"sequence_lens: expected shape \(5,\)")
    yield ("LSTM", {"sequence_lens": np.full(5, 7)}, {}, ValueError,
           r"sequence_lens: expected 0 <= len <= T=6")
    yield ("LSTM", {"sequence_lens": np.full(5, 1.0)}, {}, TypeError,
           r"sequence_lens: expected integers")
    yield "LSTM", {}, {"hidden_size": 5}, ValueError, r"hidden_size: 5 does not match R"
    yield "LSTM", {}, {"hidden_size": 4.0}, TypeError, r"hidden_size: expected an int"
    yield "LSTM", {}, {"direction": "Forward"}, ValueError, r"direction: expected one of"
    yield "LSTM", {}, {"clip": 0.0}, ValueError, r"clip: expected a float > 0"
    yield "LSTM", {}, {"clip": "1"}, TypeError, r"clip: expected a float > 0"
    yield "LSTM", {}, {"input_forget": 2}, ValueError, r"input_forget: expected 0 or 1"
    yield "LSTM", {}, {"layout": 2}, ValueError, r"layout: expected 0 or 1"
    yield ("LSTM", {}, {"activations": ["Sigmoid", "Tanh"]}, ValueError,
           r"activations: expected 3 names")
    yield "GRU", {"B": z((1, 8 * H))}, {}, ValueError, r"B: expected shape \(1, 24\)"
    yield ("GRU", {}, {"linear_before_reset": 3}, ValueError,
           r"linear_before_reset: expected 0 or 1")
    yield ("GRU", {}, {"activations": ["Sigmoid", "Tanh", "Tanh"]}, ValueError,
           r"activations: expected 2 names")


@pytest.mark.parametrize("op,changes,attrs,error,match", list(_bad_inputs()))
def test_bad_inputs(op, changes, attrs, error, match):
    rng = np.random.default_rng(0)
    make = lstm_operands if op == "LSTM" else gru_operands
    ops = make(rng, 4, "forward", steps=6, batch=5)
    ops.update(changes)
    with pytest.raises(error, match=match):
        run_ref(op, ops, **attrs)
