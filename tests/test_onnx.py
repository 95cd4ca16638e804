"""gatedrnn.onnx.lstm / gru: the ONNX operators, checked against onnxruntime.

Every case builds a one-node ONNX model with onnx.helper and runs it in onnxruntime
(CPU). onnxruntime rejects layout=1, so layout-1 calls are compared with the layout-0
run, transposed.
"""

import numpy as np
import pytest

pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from onnx import TensorProto, helper  # noqa: E402

from gatedrnn import onnx as gonnx  # noqa: E402

T, I = 5, 4
ACTIVATIONS = ["Relu", "Tanh", "Sigmoid", "Affine", "LeakyRelu", "ThresholdedRelu", "ScaledTanh", "HardSigmoid",
               "Elu", "Softsign", "Softplus"]
INPUTS = {"LSTM": ["X", "W", "R", "B", "sequence_lens", "initial_h", "initial_c", "P"],
          "GRU": ["X", "W", "R", "B", "sequence_lens", "initial_h"]}
OUTPUTS = {"LSTM": ["Y", "Y_h", "Y_c"], "GRU": ["Y", "Y_h"]}


def ort_run(op, inputs, opset=14, **attrs):
    """Run a single ``op`` node in onnxruntime. ``inputs``: {name: array or None}, every
    array a graph input (sequence_lens int32, the rest float32)."""
    names, feeds, infos = [], {}, []
    for name in INPUTS[op]:
        value = inputs.get(name)
        if value is None:
            names.append("")
            continue
        dtype = np.int32 if name == "sequence_lens" else np.float32
        feeds[name] = np.asarray(value, dtype)
        names.append(name)
        elem = TensorProto.INT32 if name == "sequence_lens" else TensorProto.FLOAT
        infos.append(helper.make_tensor_value_info(name, elem, list(feeds[name].shape)))
    while names[-1] == "":
        names.pop()
    attrs = {k: v for k, v in attrs.items() if v is not None}
    node = helper.make_node(op, names, OUTPUTS[op], **attrs)
    outs = [helper.make_tensor_value_info(o, TensorProto.FLOAT, None) for o in OUTPUTS[op]]
    model = helper.make_model(helper.make_graph([node], "rnn", infos, outs),
                              opset_imports=[helper.make_opsetid("", opset)], ir_version=8)
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, feeds)


def make_inputs(rng, op, D, H, batch, *, lens=None, init=(), peep=False, bias=True, scale=1.0):
    """Random ONNX operands (layout 0). ``lens``: None, "mixed" (includes 0 and T when
    batch > 1), "full" or "zeros"; ``init``: which initial states to give."""
    G = 4 if op == "LSTM" else 3
    k = scale / np.sqrt(H)
    u = lambda *shape: rng.uniform(-k, k, size=shape).astype(np.float32)  # noqa: E731
    x = {"X": rng.standard_normal((T, batch, I)).astype(np.float32) * 2, "W": u(D, G * H, I), "R": u(D, G * H, H)}
    if bias:
        x["B"] = u(D, 2 * G * H)
    if lens is not None:
        x["sequence_lens"] = {"mixed": np.array([T, 0, 2] if batch == 3 else [3])[:batch],
                              "full": np.full(batch, T), "zeros": np.zeros(batch)}[lens].astype(np.int32)
    for name in init:
        x[name] = rng.standard_normal((D, batch, H)).astype(np.float32)
    if peep:
        x["P"] = u(D, 3 * H) * 2
    return x


def to_layout1(x):
    """The layout-0 operands as layout 1."""
    out = dict(x)
    for name in ("X", "initial_h", "initial_c"):
        if name in out:
            out[name] = out[name].transpose(1, 0, 2)
    return out


def assert_outputs(got, want, layout):
    assert len(got) == len(want)
    for k, (g, w) in enumerate(zip(got, want)):
        if layout:  # ORT's layout-0 results as layout 1
            w = w.transpose(2, 0, 1, 3) if k == 0 else w.transpose(1, 0, 2)
        assert g.dtype == np.float32 and g.shape == w.shape, (k, g.shape, w.shape)
        scale = max(1.0, float(np.abs(w).max(initial=0.0)))
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=2e-5 * scale, err_msg=f"output {k}")


def call(fn, x, **attrs):
    order = INPUTS["LSTM" if fn is gonnx.lstm else "GRU"]
    args = {name: x[name] for name in order if name in x}
    return fn(**args, **attrs)


LSTM_CASES = [
    dict(direction="forward", H=1, batch=1),
    dict(direction="forward", H=7, batch=3, lens="mixed", init=("initial_h", "initial_c")),
    dict(direction="reverse", H=16, batch=3, lens="mixed", init=("initial_h",), peep=True),
    dict(direction="bidirectional", H=17, batch=3, lens="mixed", init=("initial_h", "initial_c"), peep=True, clip=0.6),
    dict(direction="bidirectional", H=33, batch=1, lens="full", bias=False),
    dict(direction="reverse", H=7, batch=3, init=("initial_c",), input_forget=1, clip=0.5),
    dict(direction="bidirectional", H=16, batch=3, lens="mixed", init=("initial_h", "initial_c"), peep=True,
         input_forget=1),
    dict(direction="forward", H=33, batch=3, lens="mixed", peep=True, clip=1.5, bias=False),
    dict(direction="forward", H=7, batch=3, lens="zeros", init=("initial_h", "initial_c")),
]
GRU_CASES = [
    dict(direction="forward", H=1, batch=1, lbr=0),
    dict(direction="forward", H=7, batch=3, lbr=1, lens="mixed", init=("initial_h",)),
    dict(direction="reverse", H=16, batch=3, lbr=0, lens="mixed", init=("initial_h",), clip=0.5),
    dict(direction="reverse", H=17, batch=1, lbr=1, lens="full"),
    dict(direction="bidirectional", H=33, batch=3, lbr=0, lens="mixed", init=("initial_h",)),
    dict(direction="bidirectional", H=16, batch=3, lbr=1, lens="mixed", init=("initial_h",), clip=0.7, bias=False),
    dict(direction="forward", H=7, batch=3, lbr=0, lens="zeros", init=("initial_h",)),
]


def case_id(case):
    return "-".join(f"{k}={'+'.join(v) if isinstance(v, tuple) else v}" for k, v in case.items())


@pytest.mark.parametrize("layout", [0, 1])
@pytest.mark.parametrize("case", LSTM_CASES, ids=case_id)
def test_lstm_matches_onnxruntime(case, layout, rng):
    c = dict(case)
    D = 2 if c["direction"] == "bidirectional" else 1
    x = make_inputs(rng, "LSTM", D, c.pop("H"), c.pop("batch"), lens=c.pop("lens", None), init=c.pop("init", ()),
                    peep=c.pop("peep", False), bias=c.pop("bias", True))
    want = ort_run("LSTM", x, hidden_size=x["R"].shape[2], **c)
    got = call(gonnx.lstm, to_layout1(x) if layout else x, layout=layout, **c)
    assert_outputs(got, want, layout)


@pytest.mark.parametrize("layout", [0, 1])
@pytest.mark.parametrize("case", GRU_CASES, ids=case_id)
def test_gru_matches_onnxruntime(case, layout, rng):
    c = dict(case)
    D = 2 if c["direction"] == "bidirectional" else 1
    c["linear_before_reset"] = c.pop("lbr")
    x = make_inputs(rng, "GRU", D, c.pop("H"), c.pop("batch"), lens=c.pop("lens", None), init=c.pop("init", ()),
                    bias=c.pop("bias", True))
    want = ort_run("GRU", x, hidden_size=x["R"].shape[2], **c)
    got = call(gonnx.gru, to_layout1(x) if layout else x, layout=layout, **c)
    assert_outputs(got, want, layout)


# alpha / beta lists: every parameter given; one alpha only (the rest take onnxruntime's
# defaults); none at all (all defaults).
ALPHA_BETA = [([0.3, 0.7, 1.3, 0.9, 0.4, 1.1], [0.2, -0.4, 0.6, 0.5]), ([0.45], None), (None, None)]


@pytest.mark.parametrize("op", ["LSTM", "GRU"])
@pytest.mark.parametrize("k", range(len(ACTIVATIONS)), ids=ACTIVATIONS)
def test_activations_match_onnxruntime(op, k, rng):
    """Each of the 11 activations in every slot (f, g, h of each direction), with complete,
    short and missing alpha/beta lists; bidirectional with two different sets."""
    n = 3 if op == "LSTM" else 2
    shifts = (0, 3, 7, 1, 5, 9)[:2 * n] if op == "LSTM" else (0, 4, 1, 8)
    names = [ACTIVATIONS[(k + s) % len(ACTIVATIONS)] for s in shifts]
    names = [a.lower() if j % 2 else a for j, a in enumerate(names)]  # names are case-insensitive
    x = make_inputs(rng, op, 2, 7, 3, lens="mixed", init=("initial_h", "initial_c")[:n - 1], peep=op == "LSTM",
                    scale=0.6)
    fn = gonnx.lstm if op == "LSTM" else gonnx.gru
    for j, (alpha, beta) in enumerate(ALPHA_BETA):
        attrs = dict(direction="bidirectional", activations=names, activation_alpha=alpha, activation_beta=beta,
                     clip=0.8 if j == 1 else None)
        want = ort_run(op, x, hidden_size=7, **attrs)
        got = call(fn, x, **attrs)
        assert_outputs(got, want, 0)


def test_default_activations_spelled_out_and_opset_22(rng):
    x = make_inputs(rng, "LSTM", 1, 8, 2, lens="full", init=("initial_h",))
    want = ort_run("LSTM", x, opset=22, hidden_size=8)
    assert_outputs(call(gonnx.lstm, x, activations=["sigmoid", "TANH", "Tanh"], hidden_size=8), want, 0)
    x = make_inputs(rng, "GRU", 2, 8, 2)
    want = ort_run("GRU", x, opset=22, hidden_size=8, direction="bidirectional")
    got = call(gonnx.gru, x, direction="bidirectional", activations=["Sigmoid", "Tanh"] * 2)
    assert_outputs(got, want, 0)


def test_empty_sequence(rng):
    """seq_length 0: every row has length 0, so Y is empty and the final states are zeros
    (the rule onnxruntime follows for sequence_lens == 0, checked above with lens="zeros").
    onnxruntime 1.32 itself is no reference here: its LSTM leaves Y_c uninitialized (it
    holds whatever the arena had) and its GRU aborts the process."""
    x = make_inputs(rng, "LSTM", 2, 7, 2, init=("initial_h", "initial_c"))
    x["X"] = x["X"][:0]
    Y, Y_h, Y_c = call(gonnx.lstm, x, direction="bidirectional")
    assert Y.shape == (0, 2, 2, 7) and Y_h.shape == Y_c.shape == (2, 2, 7)
    assert not Y_h.any() and not Y_c.any()
    Y, Y_h = gonnx.gru(x["X"], rng.standard_normal((2, 21, I)), rng.standard_normal((2, 21, 7)),
                       initial_h=x["initial_h"], direction="bidirectional", layout=0)
    assert Y.shape == (0, 2, 2, 7) and Y_h.shape == (2, 2, 7) and not Y_h.any()
    Y, Y_h = gonnx.gru(x["X"].transpose(1, 0, 2), rng.standard_normal((2, 21, I)), rng.standard_normal((2, 21, 7)),
                       initial_h=x["initial_h"].transpose(1, 0, 2), direction="bidirectional", layout=1)
    assert Y.shape == (2, 0, 2, 7) and Y_h.shape == (2, 2, 7) and not Y_h.any()


def test_inputs_of_other_types(rng):
    """Lists, float64 and int sequence_lens of any width give the float32 results; an
    infinite clip is no clip (onnxruntime's default is FLT_MAX)."""
    x = make_inputs(rng, "GRU", 1, 7, 3, lens="mixed", init=("initial_h",))
    want = ort_run("GRU", x, hidden_size=7)
    got = gonnx.gru(x["X"].astype(np.float64), x["W"].tolist(), x["R"].astype(np.float64), x["B"],
                    x["sequence_lens"].astype(np.int64), x["initial_h"].tolist(), clip=np.inf)
    assert_outputs(got, want, 0)


# -- errors ---------------------------------------------------------------------------
def lstm_operands(rng, D=1, H=7, batch=3):
    return make_inputs(rng, "LSTM", D, H, batch, lens="mixed", init=("initial_h", "initial_c"), peep=True)


ERRORS = [
    # (what to change, expected exception, message pattern); None in the operands or attributes
    # column means "leave as is". Each is also rejected by onnxruntime (checked).
    ("direction", dict(direction="backward"), ValueError, r"direction: expected one of 'forward', 'reverse', "),
    ("clip-zero", dict(clip=0.0), ValueError, r"clip: expected a float > 0"),
    ("clip-negative", dict(clip=-1.0), ValueError, r"clip: expected a float > 0"),
    ("activations-count", dict(activations=["Sigmoid", "Tanh"]), ValueError, r"activations: expected 3 names"),
    ("activations-3-for-2-directions", dict(direction="bidirectional", activations=["Sigmoid", "Tanh", "Tanh"]),
     ValueError, r"activations: expected 6 names"),
    ("activations-unknown", dict(activations=["Sigmoid", "Gelu", "Tanh"]), ValueError,
     r"activations\[1\]: unknown activation 'Gelu'"),
    ("hidden_size", dict(hidden_size=8), ValueError,
     r"R: expected shape \(num_directions, 4\*hidden_size, hidden_size\) = \(1, 32, 8\), got \(1, 28, 7\)"),
    ("W-shape", dict(W=np.zeros((1, 28, 5), np.float32)), ValueError,
     r"W: expected shape \(num_directions, 4\*hidden_size, input_size\) = \(1, 28, 4\), got \(1, 28, 5\)"),
    ("W-directions", dict(direction="bidirectional"), ValueError,
     r"R: expected shape .* = \(2, 28, 7\), got \(1, 28, 7\)"),
    ("B-shape", dict(B=np.zeros((1, 28), np.float32)), ValueError, r"B: expected shape .* = \(1, 56\), got \(1, 28\)"),
    ("P-shape", dict(P=np.zeros((1, 28), np.float32)), ValueError, r"P: expected shape .* = \(1, 21\), got \(1, 28\)"),
    ("initial_h-shape", dict(initial_h=np.zeros((1, 2, 7), np.float32)), ValueError,
     r"initial_h: expected shape \(num_directions, batch_size, hidden_size\) = \(1, 3, 7\), got \(1, 2, 7\)"),
    ("initial_c-shape", dict(initial_c=np.zeros((1, 3, 8), np.float32)), ValueError,
     r"initial_c: expected shape .* = \(1, 3, 7\), got \(1, 3, 8\)"),
    ("sequence_lens-long", dict(sequence_lens=np.array([6, 1, 1], np.int32)), ValueError,
     r"sequence_lens: expected values in \[0, seq_length\] = \[0, 5\], got 6"),
    ("sequence_lens-negative", dict(sequence_lens=np.array([2, -1, 1], np.int32)), ValueError,
     r"sequence_lens: expected values in \[0, seq_length\] = \[0, 5\], got -1"),
    ("sequence_lens-shape", dict(sequence_lens=np.array([2, 1], np.int32)), ValueError,
     r"sequence_lens: expected shape \(batch_size,\) = \(3,\), got \(2,\)"),
    ("X-2d", dict(X=np.zeros((5, 4), np.float32)), ValueError,
     r"X: expected a 3-D array \(seq_length, batch_size, input_size\) .*got shape \(5, 4\)"),
]


@pytest.mark.parametrize("change,exc,pattern", [e[1:] for e in ERRORS], ids=[e[0] for e in ERRORS])
def test_errors_rejected_like_onnxruntime(change, exc, pattern, rng):
    x = lstm_operands(rng)
    attrs = {k: v for k, v in change.items() if k not in INPUTS["LSTM"]}
    x.update({k: v for k, v in change.items() if k in INPUTS["LSTM"]})
    with pytest.raises(exc, match=pattern):
        call(gonnx.lstm, x, **attrs)
    with pytest.raises(Exception):  # onnxruntime refuses the same node
        ort_run("LSTM", x, hidden_size=attrs.pop("hidden_size", 7), **attrs)


def test_errors_of_our_own(rng):
    """Checks onnxruntime has no counterpart for (types; layout, which it never runs)."""
    x = lstm_operands(rng)
    with pytest.raises(ValueError, match=r"layout: expected one of 0, 1, got 2"):
        call(gonnx.lstm, x, layout=2)
    with pytest.raises(TypeError, match=r"direction: expected a str"):
        call(gonnx.lstm, x, direction=1)
    with pytest.raises(TypeError, match=r"activations: expected a list"):
        call(gonnx.lstm, x, activations="Tanh")
    with pytest.raises(ValueError, match=r"clip: expected a float > 0"):
        call(gonnx.lstm, x, clip=float("nan"))
    with pytest.raises(TypeError, match=r"sequence_lens: expected integers"):
        call(gonnx.lstm, dict(x, sequence_lens=np.array([1.0, 2.0, 3.0])))
    with pytest.raises(TypeError, match=r"X: expected a real numeric array"):
        call(gonnx.lstm, dict(x, X=x["X"].astype(np.complex64)))
    with pytest.raises(ValueError, match=r"W: gatedrnn needs finite weights"):
        call(gonnx.lstm, dict(x, W=np.full_like(x["W"], np.nan)))
    with pytest.raises(ValueError, match=r"initial_h: expected shape \(batch_size, num_directions, hidden_size\) = "
                                         r"\(3, 1, 7\), got \(1, 3, 7\)"):
        call(gonnx.lstm, dict(x, X=x["X"].transpose(1, 0, 2)), layout=1)
    g = make_inputs(rng, "GRU", 1, 7, 3)
    with pytest.raises(ValueError, match=r"activations: expected 2 names"):
        call(gonnx.gru, g, activations=["Sigmoid", "Tanh", "Tanh"])
    with pytest.raises(ValueError, match=r"W: expected shape \(num_directions, 3\*hidden_size, input_size\)"):
        call(gonnx.gru, dict(g, W=g["W"][:, :14]))
