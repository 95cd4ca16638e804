"""gatedrnn.from_onnx: LSTM / GRU nodes of ONNX models as layers, checked against
onnxruntime on the same models (and against torch for models torch exported)."""

import io

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from onnx import TensorProto, helper, numpy_helper  # noqa: E402

import gatedrnn  # noqa: E402

T, B, I = 5, 3, 4
OUTPUTS = {"LSTM": ["Y", "Y_h", "Y_c"], "GRU": ["Y", "Y_h"]}


def weights(rng, op, D, H, *, bias=True, peep=False):
    G = 4 if op == "LSTM" else 3
    u = lambda *s: rng.uniform(-0.5, 0.5, size=s).astype(np.float32)  # noqa: E731
    w = {"W": u(D, G * H, I), "R": u(D, G * H, H)}
    if bias:
        w["B"] = u(D, 2 * G * H)
    if peep:
        w["P"] = u(D, 3 * H)
    return w


def node_model(op, w, *, opset=14, constant=(), layout=0, **attrs):
    """A model with one ``op`` node: W, R, B, P from ``w`` as initializers (or Constant
    nodes for the names in ``constant``); X, sequence_lens, initial_h (and initial_c) are
    graph inputs."""
    D = w["R"].shape[0]
    H = w["R"].shape[2]
    order = ["X", "W", "R", "B", "sequence_lens", "initial_h"] + (["initial_c", "P"] if op == "LSTM" else [])
    inputs, inits, nodes = [], [], []
    names = []
    for name in order:
        if name in ("X", "sequence_lens", "initial_h", "initial_c"):
            if name == "X":
                shape = [B, T, I] if layout else [T, B, I]
            elif name == "sequence_lens":
                shape = [B]
            else:
                shape = [B, D, H] if layout else [D, B, H]
            elem = TensorProto.INT32 if name == "sequence_lens" else TensorProto.FLOAT
            inputs.append(helper.make_tensor_value_info(name, elem, shape))
            names.append(name)
        elif name in w:
            tensor = numpy_helper.from_array(w[name], "w_" + name)
            if name in constant:
                nodes.append(helper.make_node("Constant", [], ["w_" + name], value=tensor))
            else:
                inits.append(tensor)
            names.append("w_" + name)
        else:
            names.append("")
    while names[-1] == "":
        names.pop()
    if layout:
        attrs["layout"] = layout
    nodes.append(helper.make_node(op, names, OUTPUTS[op], name="rnn", hidden_size=H, **attrs))
    outs = [helper.make_tensor_value_info(o, TensorProto.FLOAT, None) for o in OUTPUTS[op]]
    graph = helper.make_graph(nodes, "g", inputs, outs, initializer=inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], ir_version=7 if opset < 14 else 8)


def run_ort(model, feeds):
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, feeds)


CASES = [
    ("LSTM", dict(direction="bidirectional", clip=0.7), dict(peep=True), 14),
    ("LSTM", dict(direction="reverse", input_forget=1, activations=["HardSigmoid", "Elu", "Softsign"],
                  activation_alpha=[0.3, 0.8], activation_beta=[0.45]), dict(peep=True), 22),
    ("LSTM", dict(), dict(bias=False), 7),
    ("GRU", dict(linear_before_reset=0), dict(), 7),
    ("GRU", dict(direction="bidirectional", linear_before_reset=1,
                 activations=["Sigmoid", "Tanh", "LeakyRelu", "Affine"],
                 activation_alpha=[0.2, 0.9], activation_beta=[0.1]), dict(), 14),
    ("GRU", dict(direction="reverse", clip=0.6), dict(bias=False), 22),
]


@pytest.mark.parametrize(
    "op,attrs,wkw,opset,layout",
    [c + (layout,) for c in CASES for layout in ((0, 1) if c[3] >= 14 else (0,))],  # layout: opset 14 on
    ids=[f"{c[0]}-opset{c[3]}-{'-'.join(c[1]) or 'plain'}-layout{layout}"
         for c in CASES for layout in ((0, 1) if c[3] >= 14 else (0,))])
def test_single_node_matches_onnxruntime(op, attrs, wkw, opset, layout, rng):
    D = 2 if attrs.get("direction") == "bidirectional" else 1
    H = 7
    w = weights(rng, op, D, H, **wkw)
    feeds = {"X": rng.standard_normal((T, B, I)).astype(np.float32),
             "sequence_lens": np.array([T, 2, 4], np.int32),
             "initial_h": rng.standard_normal((D, B, H)).astype(np.float32)}
    if op == "LSTM":
        feeds["initial_c"] = rng.standard_normal((D, B, H)).astype(np.float32)
    want = run_ort(node_model(op, w, opset=opset, **attrs), feeds)  # onnxruntime runs layout 0 only

    layer = gatedrnn.from_onnx(node_model(op, w, opset=opset, layout=layout, **attrs))
    assert type(layer).__name__ == op and layer.batch_first == bool(layout)
    assert layer.bidirectional == (D == 2) and layer.reverse == (attrs.get("direction") == "reverse")
    x = feeds["X"].transpose(1, 0, 2) if layout else feeds["X"]
    states = [feeds["initial_h"], feeds.get("initial_c")]  # (D, B, H) in either layout
    if op == "LSTM":
        y, (h_n, c_n) = layer(x, tuple(states), lengths=feeds["sequence_lens"])
        finals = [h_n, c_n]
    else:
        y, h_n = layer(x, states[0], lengths=feeds["sequence_lens"])
        finals = [h_n]
    Y = want[0]  # (T, D, B, H)
    Y = Y.transpose(2, 0, 1, 3).reshape(B, T, D * H) if layout else Y.transpose(0, 2, 1, 3).reshape(T, B, D * H)
    np.testing.assert_allclose(y, Y, rtol=1e-5, atol=2e-5)
    for got, ref in zip(finals, want[1:]):
        np.testing.assert_allclose(got, ref, rtol=1e-5, atol=2e-5)


def test_model_sources_and_constant_nodes(rng, tmp_path):
    """A ModelProto, a path (str and PathLike; weights inside or in external data), bytes;
    weights from Constant nodes."""
    w = weights(rng, "LSTM", 1, 6, peep=True)
    model = node_model("LSTM", w, constant=("W", "P"))
    x = rng.standard_normal((T, B, I)).astype(np.float32)
    feeds = {"X": x, "sequence_lens": np.full(B, T, np.int32), "initial_h": np.zeros((1, B, 6), np.float32),
             "initial_c": np.zeros((1, B, 6), np.float32)}
    want = run_ort(model, feeds)
    path, external = tmp_path / "lstm.onnx", tmp_path / "external.onnx"
    onnx.save(model, path)
    copy = onnx.ModelProto.FromString(model.SerializeToString())  # (saving moves its weights out)
    onnx.save(copy, external, save_as_external_data=True, size_threshold=0)  # weights in a side file
    for source in (model, path, str(path), model.SerializeToString(), external):
        y, (h_n, c_n) = gatedrnn.from_onnx(source)(x)
        np.testing.assert_allclose(y, want[0][:, 0], rtol=1e-5, atol=2e-5)
        np.testing.assert_allclose(c_n, want[2], rtol=1e-5, atol=2e-5)


# -- models exported by torch ---------------------------------------------------------
# The legacy exporter is asked for on purpose (dynamo=False): its deprecation notice, and the
# tracer's notes on torch.nn.RNN's own shape checks, are expected.
@pytest.mark.filterwarnings("ignore:You are using the legacy TorchScript-based ONNX export:DeprecationWarning")
@pytest.mark.filterwarnings("ignore:Converting a tensor to a Python:Warning")
@pytest.mark.parametrize("name", ["LSTM", "GRU"])
def test_torch_export(name, rng):
    """torch.nn.LSTM / GRU (2 layers, bidirectional) exported with the TorchScript exporter:
    each node imported with from_onnx, the layers chained, against onnxruntime on the whole
    model and against torch."""
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    module = getattr(torch.nn, name)(I, 9, num_layers=2, bidirectional=True).eval()
    x = torch.from_numpy(rng.standard_normal((T, B, I)).astype(np.float32))
    buffer = io.BytesIO()
    outputs = ["y", "h"] + (["c"] if name == "LSTM" else [])
    torch.onnx.export(module, (x,), buffer, dynamo=False, opset_version=14, input_names=["x"], output_names=outputs)
    model = onnx.load_from_string(buffer.getvalue())
    assert sum(n.op_type == name for n in model.graph.node) == 2
    want = run_ort(model, {"x": x.numpy()})
    with torch.no_grad():
        ty, ts = module(x)
    ts = list(ts) if name == "LSTM" else [ts]

    with pytest.raises(ValueError, match=r"node: the graph has 2 LSTM/GRU nodes"):
        gatedrnn.from_onnx(model)
    layers = [gatedrnn.from_onnx(model, node=k) for k in range(2)]
    by_name = gatedrnn.from_onnx(model, node=[n.name for n in model.graph.node if n.op_type == name][1])
    np.testing.assert_array_equal(by_name.state_dict()["weight_hh_l0"], layers[1].state_dict()["weight_hh_l0"])
    assert all(layer.linear_before_reset for layer in layers)  # torch's GRU exports linear_before_reset=1
    h, finals = x.numpy(), []
    for layer in layers:
        h, state = layer(h)
        finals.append(state if name == "LSTM" else (state,))
    got_states = [np.concatenate([f[k] for f in finals]) for k in range(len(finals[0]))]
    np.testing.assert_allclose(h, want[0], rtol=1e-5, atol=2e-5)
    np.testing.assert_allclose(h, ty.numpy(), rtol=1e-5, atol=2e-5)
    for got, ref_ort, ref_torch in zip(got_states, want[1:], ts):
        np.testing.assert_allclose(got, ref_ort, rtol=1e-5, atol=2e-5)
        np.testing.assert_allclose(got, ref_torch.numpy(), rtol=1e-5, atol=2e-5)


# -- errors ---------------------------------------------------------------------------
def test_errors(rng):
    w = weights(rng, "GRU", 1, 5)
    model = node_model("GRU", w)
    X = helper.make_tensor_value_info("X", TensorProto.FLOAT, [T, B, I])
    out = helper.make_tensor_value_info("out", TensorProto.FLOAT, None)

    relu_only = helper.make_model(helper.make_graph([helper.make_node("Relu", ["X"], ["out"])], "g", [X], [out]))
    with pytest.raises(ValueError, match=r"no LSTM or GRU node \(its operators: Relu\)"):
        gatedrnn.from_onnx(relu_only)
    with pytest.raises(ValueError, match=r"node: no LSTM/GRU node named 'nope'; the graph has: GRU node 'rnn'"):
        gatedrnn.from_onnx(model, node="nope")
    with pytest.raises(ValueError, match=r"node: index 1 out of range; the graph has 1 LSTM/GRU node"):
        gatedrnn.from_onnx(model, node=1)
    with pytest.raises(TypeError, match=r"node: expected None, a node name \(str\) or an index \(int\), got float"):
        gatedrnn.from_onnx(model, node=1.0)
    with pytest.raises(TypeError, match=r"model_or_path: expected an onnx.ModelProto"):
        gatedrnn.from_onnx(42)
    with pytest.raises(ValueError, match=r"model_or_path: no such file"):
        gatedrnn.from_onnx("/nonexistent/model.onnx")

    # Two nodes, no node=: the error names both.
    g = model.graph
    second = helper.make_node("LSTM", ["X", "w_W", "w_R"], ["Y2"], name="other", hidden_size=5)
    two = helper.make_model(helper.make_graph(list(g.node) + [second], "g", list(g.input), list(g.output),
                                              initializer=list(g.initializer)),
                            opset_imports=list(model.opset_import))
    with pytest.raises(ValueError, match=r"node: the graph has 2 LSTM/GRU nodes \(GRU node 'rnn'; LSTM node 'other'\)"):
        gatedrnn.from_onnx(two)
    # The LSTM node reads the GRU's weights: wrong shapes, named with the node.
    with pytest.raises(ValueError, match=r"LSTM node 'other': R: expected shape .* = \(1, 20, 5\), got \(1, 15, 5\)"):
        gatedrnn.from_onnx(two, node="other")

    # W a graph input, R computed by a node: not constants.
    W_in = helper.make_tensor_value_info("w_W", TensorProto.FLOAT, list(w["W"].shape))
    inits = [t for t in g.initializer if t.name != "w_W"]
    as_input = helper.make_model(helper.make_graph(list(g.node), "g", list(g.input) + [W_in], list(g.output),
                                                   initializer=inits), opset_imports=list(model.opset_import))
    with pytest.raises(ValueError, match=r"GRU node 'rnn': input W \('w_W'\) is a graph input; from_onnx needs W, R"):
        gatedrnn.from_onnx(as_input)
    ident = helper.make_node("Identity", ["w_R"], ["r2"])
    rnn = helper.make_node("GRU", ["X", "w_W", "r2", "w_B"], ["Y", "Y_h"], name="rnn", hidden_size=5)
    computed = helper.make_model(helper.make_graph([ident, rnn], "g", [X], list(g.output),
                                                   initializer=list(g.initializer)),
                                 opset_imports=list(model.opset_import))
    with pytest.raises(ValueError, match=r"input R \('r2'\) is computed by the graph"):
        gatedrnn.from_onnx(computed)

    # Attributes ONNX rejects, opsets before 7, layout before 14.
    for attrs, pattern in [(dict(direction="sideways"), r"GRU node 'rnn': direction: expected one of"),
                           (dict(clip=-1.0), r"clip: expected a float > 0"),
                           (dict(activations=["Sigmoid"]), r"activations: expected 2 names"),
                           (dict(output_sequence=1), r"unknown attribute\(s\) output_sequence")]:
        with pytest.raises(ValueError, match=pattern):
            gatedrnn.from_onnx(node_model("GRU", w, **attrs))
    with pytest.raises(ValueError, match=r"the model imports opset 6; from_onnx reads GRU from opset 7 on"):
        gatedrnn.from_onnx(node_model("GRU", w, opset=6))
    with pytest.raises(ValueError, match=r"attribute layout exists from opset 14; the model imports opset 13"):
        gatedrnn.from_onnx(node_model("GRU", w, opset=13, layout=1))
    with pytest.raises(ValueError, match=r"hidden_size: expected an int >= 1|R: expected shape"):
        bad = node_model("GRU", w)
        next(a for a in bad.graph.node[-1].attribute if a.name == "hidden_size").i = 6
        gatedrnn.from_onnx(bad)
