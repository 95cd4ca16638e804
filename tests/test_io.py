"""Saving and loading (safetensors files), pickling, and the errors load gives for
damaged or mismatched files.

A loaded or unpickled layer holds the same float32 weights and runs the same kernels as
the original, so its outputs must be identical to the bit. Interoperability is checked
both ways against the real ``safetensors`` package where it is installed.
"""

import copy
import json
import os
import pathlib
import pickle
import re
import struct
import subprocess
import sys

import numpy as np
import pytest

import gatedrnn

# -- models and how to run them ---------------------------------------------------------------

CONFIGS = [
    ("LSTM", dict(input_size=7, hidden_size=16)),
    ("LSTM", dict(input_size=5, hidden_size=17, num_layers=2, bidirectional=True)),
    ("LSTM", dict(input_size=3, hidden_size=15, num_layers=2, proj_size=7)),
    ("LSTM", dict(input_size=4, hidden_size=8, bias=False, batch_first=True, num_threads=1)),
    ("LSTM", dict(input_size=6, hidden_size=33, bidirectional=True, proj_size=1, batch_first=True)),
    ("LSTM", dict(input_size=1, hidden_size=1)),
    ("GRU", dict(input_size=7, hidden_size=16)),
    ("GRU", dict(input_size=5, hidden_size=17, num_layers=2, bidirectional=True)),
    ("GRU", dict(input_size=4, hidden_size=7, linear_before_reset=False, bias=False)),
    ("GRU", dict(input_size=3, hidden_size=33, num_layers=2, batch_first=True, linear_before_reset=False,
                 num_threads=2)),
    ("LSTMCell", dict(input_size=5, hidden_size=17)),
    ("LSTMCell", dict(input_size=3, hidden_size=8, bias=False)),
    ("GRUCell", dict(input_size=5, hidden_size=15)),
    ("GRUCell", dict(input_size=4, hidden_size=16, linear_before_reset=False, bias=False)),
]

# The ONNX options (reverse, peepholes, clip, activations): saved through _init_args() too.
ONNX_CONFIGS = [
    ("LSTM", dict(input_size=4, hidden_size=9, reverse=True, peepholes=True, clip=2.5)),
    ("LSTM", dict(input_size=3, hidden_size=8, bidirectional=True, peepholes=True, input_forget=True,
                  activations=["HardSigmoid", "LeakyRelu", "Tanh", "Sigmoid", "ScaledTanh", "Softsign"],
                  activation_alpha=[0.3, 0.05, 0.7], activation_beta=[0.4, 1.5])),
    ("GRU", dict(input_size=4, hidden_size=7, reverse=True, clip=0.75, linear_before_reset=False,
                 activations=["Sigmoid", "Elu"], activation_alpha=[0.6])),
]


def config_id(c):
    return c[0] + "-" + "-".join(f"{k}={v}" for k, v in c[1].items() if k not in ("input_size", "activations"))


def make(cls_name, config, seed=0):
    return getattr(gatedrnn, cls_name)(**config, seed=seed)


def run(model, seed=1):
    """Outputs of ``model`` on fixed random inputs, with initial states (and lengths,
    including a zero length, for the sequence layers), as a flat list of arrays."""
    rng = np.random.default_rng(seed)
    I, H = model.input_size, model.hidden_size
    B, T = 3, 5

    def randn(*shape):
        return rng.standard_normal(shape).astype(np.float32)

    if isinstance(model, gatedrnn.LSTMCell):
        h, c = model(randn(B, I), (randn(B, H), randn(B, H)))
        return [h, c, model(randn(I))[0]]
    if isinstance(model, gatedrnn.GRUCell):
        return [model(randn(B, I), randn(B, H)), model(randn(I))]
    x = randn(B, T, I) if model.batch_first else randn(T, B, I)
    lead = model.num_layers * (2 if model.bidirectional else 1)
    h_out = getattr(model, "proj_size", 0) or H
    lengths = [T, 2, 0]
    if isinstance(model, gatedrnn.LSTM):
        y, (h, c) = model(x, (randn(lead, B, h_out), randn(lead, B, H)), lengths=lengths)
        y2, (h2, c2) = model(x)
        return [y, h, c, y2, h2, c2]
    y, h = model(x, randn(lead, B, H), lengths=lengths)
    y2, h2 = model(x)
    return [y, h, y2, h2]


def assert_same_bits(actual, expected):
    assert len(actual) == len(expected)
    for a, e in zip(actual, expected):
        assert a.dtype == e.dtype == np.float32 and a.shape == e.shape
        assert np.array_equal(a.view(np.uint32), e.view(np.uint32))


def assert_same_model(loaded, original):
    assert type(loaded) is type(original)
    assert json.dumps(loaded._init_args(), sort_keys=True) == json.dumps(original._init_args(), sort_keys=True)
    a, b = loaded.state_dict(), original.state_dict()
    assert list(a) == list(b)
    assert_same_bits(list(a.values()), list(b.values()))
    assert_same_bits(run(loaded), run(original))


# -- round trips ------------------------------------------------------------------------------

@pytest.mark.parametrize("cfg", CONFIGS, ids=[config_id(c) for c in CONFIGS])
def test_save_load_round_trip(tmp_path, cfg):
    m = make(*cfg)
    path = tmp_path / "model.safetensors"
    m.save(path)
    loaded = gatedrnn.load(path)
    assert_same_model(loaded, m)
    # A fresh model of the same configuration but other weights gives other outputs: the
    # comparison above can fail.
    other = run(make(*cfg, seed=12345))
    assert not all(np.array_equal(a, b) for a, b in zip(other, run(m)))


@pytest.mark.parametrize("cfg", ONNX_CONFIGS, ids=[config_id(c) for c in ONNX_CONFIGS])
def test_save_load_round_trip_onnx_options(tmp_path, cfg):
    m = make(*cfg)
    m.save(tmp_path / "m.safetensors")
    assert_same_model(gatedrnn.load(tmp_path / "m.safetensors"), m)
    assert_same_model(pickle.loads(pickle.dumps(m)), m)


def test_path_types_and_overwrite(tmp_path):
    m1, m2 = make("GRU", dict(input_size=3, hidden_size=4)), make("LSTM", dict(input_size=2, hidden_size=5))
    path = tmp_path / "m.safetensors"
    m1.save(str(path))  # str
    assert_same_model(gatedrnn.load(str(path)), m1)
    m2.save(pathlib.Path(path))  # PathLike; an existing file is replaced
    assert_same_model(gatedrnn.load(pathlib.Path(path)), m2)
    with pytest.raises(TypeError, match="path"):
        gatedrnn.load(3)
    with pytest.raises(TypeError, match="path"):
        m1.save(None)


def test_loaded_model_is_independent(tmp_path):
    m = make("LSTM", dict(input_size=3, hidden_size=4))
    m.save(tmp_path / "m.safetensors")
    loaded = gatedrnn.load(tmp_path / "m.safetensors")
    before = run(m)
    loaded.load_state_dict({k: v * 2 for k, v in loaded.state_dict().items()})
    assert_same_bits(run(m), before)


def test_file_layout(tmp_path):
    """The header is padded to 8 bytes, the metadata says how to rebuild the layer, and the
    tensors tile the data in state_dict order."""
    m = make("LSTM", dict(input_size=3, hidden_size=5, proj_size=2, bidirectional=True))
    path = tmp_path / "m.safetensors"
    m.save(path)
    raw = path.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    assert n % 8 == 0
    header = json.loads(raw[8:8 + n])
    meta = header.pop("__metadata__")
    assert meta["format"] == "gatedrnn" and meta["class"] == "LSTM" and meta["format_version"].isdigit()
    assert json.loads(meta["config"]) == json.loads(json.dumps(m._init_args()))
    sd = m.state_dict()
    assert list(header) == list(sd)
    offset = 8 + n
    for name, value in sd.items():
        info = header[name]
        assert info["dtype"] == "F32" and info["shape"] == list(value.shape)
        begin, end = info["data_offsets"]
        got = np.frombuffer(raw[offset + begin:offset + end], "<f4").reshape(value.shape)
        assert np.array_equal(got.view(np.uint32), value.view(np.uint32))
    assert offset + end == len(raw)


def test_save_rejects_non_layers(tmp_path):
    from gatedrnn import _io

    with pytest.raises(TypeError, match="model"):
        _io.save(object(), tmp_path / "x.safetensors")

    class MyLSTM(gatedrnn.LSTM):
        pass

    sub = MyLSTM(2, 3, seed=0)
    with pytest.raises(TypeError, match="MyLSTM"):
        sub.save(tmp_path / "x.safetensors")
    with pytest.raises(TypeError, match="MyLSTM"):
        pickle.dumps(sub)
    assert not (tmp_path / "x.safetensors").exists()


# -- pickling ---------------------------------------------------------------------------------

@pytest.mark.parametrize("cfg", CONFIGS, ids=[config_id(c) for c in CONFIGS])
def test_pickle_round_trip(cfg):
    m = make(*cfg)
    for protocol in (2, pickle.HIGHEST_PROTOCOL):
        assert_same_model(pickle.loads(pickle.dumps(m, protocol=protocol)), m)


def test_copy_and_deepcopy():
    m = make("GRU", dict(input_size=3, hidden_size=8, num_layers=2))
    for clone in (copy.copy(m), copy.deepcopy(m)):
        assert clone is not m
        assert_same_model(clone, m)
        clone.load_state_dict({k: -v for k, v in clone.state_dict().items()})
        assert not np.array_equal(run(clone)[0], run(m)[0])


def test_rebuild_rejects_unknown_class():
    from gatedrnn import _io

    with pytest.raises(ValueError, match="cls_name"):
        _io._rebuild("RNN", {}, {})


_CHILD = """
import pickle, sys
import numpy as np
import gatedrnn
d = sys.argv[1]
with open(d + "/models.pkl", "rb") as f:
    models = pickle.load(f)
files = [gatedrnn.load(d + f"/m{i}.safetensors") for i in range(len(models))]
xs = np.load(d + "/xs.npz")
out = {}
for i, (a, b) in enumerate(zip(models, files)):
    x = xs[f"x{i}"]
    out[f"p{i}"] = a(x)[0]
    out[f"f{i}"] = b(x)[0]
np.savez(d + "/out.npz", **out)
"""


def test_pickle_and_file_across_processes(tmp_path):
    """Pickled and saved in this process, unpickled and loaded in another: the same
    outputs, to the bit."""
    models = [make(*c) for c in (CONFIGS[1], CONFIGS[2], CONFIGS[9])]
    rng = np.random.default_rng(0)
    xs = {}
    for i, m in enumerate(models):
        m.save(tmp_path / f"m{i}.safetensors")
        xs[f"x{i}"] = rng.standard_normal((4, 3, m.input_size)).astype(np.float32)
    with open(tmp_path / "models.pkl", "wb") as f:
        pickle.dump(models, f)
    np.savez(tmp_path / "xs.npz", **xs)
    env = dict(os.environ)
    pkg_parent = os.path.dirname(os.path.dirname(os.path.abspath(gatedrnn.__file__)))
    env["PYTHONPATH"] = os.pathsep.join(p for p in (pkg_parent, env.get("PYTHONPATH")) if p)
    env["GATEDRNN_ISA"] = gatedrnn.selected_isa()  # the same kernels on both sides
    proc = subprocess.run([sys.executable, "-c", _CHILD, str(tmp_path)], capture_output=True, text=True,
                          env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    out = np.load(tmp_path / "out.npz")
    for i, m in enumerate(models):
        expected = m(xs[f"x{i}"])[0]
        assert_same_bits([out[f"p{i}"], out[f"f{i}"]], [expected, expected])


# -- damaged and mismatched files ------------------------------------------------------------

def _model():
    return make("LSTM", dict(input_size=3, hidden_size=4, num_layers=2))


def _parts(model):
    """(header dict, data bytes) of ``model``'s file as gatedrnn writes it."""
    raw = _saved_bytes(model)
    (n,) = struct.unpack("<Q", raw[:8])
    return json.loads(raw[8:8 + n]), raw[8 + n:]



def _saved_bytes(model):
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        p = os.path.join(d, "m.safetensors")
        model.save(p)
        with open(p, "rb") as f:
            return f.read()


def _encode(header, data, *, pad=True, header_bytes=None):
    text = header_bytes if header_bytes is not None else json.dumps(header).encode()
    if pad:
        text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + data


def _load_error(tmp_path, content, match, exc=ValueError):
    path = tmp_path / "bad.safetensors"
    path.write_bytes(content)
    with pytest.raises(exc) as info:
        gatedrnn.load(path)
    message = str(info.value)
    assert repr(str(path)) in message, f"the message does not name the file: {message}"
    rest = message.replace(repr(str(path)), "<path>")  # the path holds the test's name
    assert re.search(match, rest), f"{match!r} not found in {rest!r}"
    return rest


def _edit(fn, model=None):
    """A file of ``model`` after ``fn(header, data)`` edits the header in place or returns
    a new ``(header, data)`` tuple."""
    header, data = _parts(model or _model())
    out = fn(header, data)
    if isinstance(out, tuple):
        header, data = out
    return _encode(header, data)


def test_not_a_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        gatedrnn.load(tmp_path / "missing.safetensors")
    with pytest.raises(ValueError, match="a directory, expected a safetensors file") as info:
        gatedrnn.load(tmp_path)
    assert str(tmp_path) in str(info.value)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_fifo_is_rejected_without_blocking(tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(ValueError, match="not a regular file"):
        gatedrnn.load(fifo)


@pytest.mark.parametrize("content,match", [
    (b"", "truncated"),
    (b"\x10\x00\x00", "truncated"),
    (struct.pack("<Q", 64) + b"{}", "header length 64 exceeds"),
    (struct.pack("<Q", 2**64 - 1) + b"{" * 100, "header length"),
    (b"\x93NUMPY\x01\x00v\x00{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }", "header length"),
    (struct.pack("<Q", 8) + b"not json", "not valid JSON"),
    (struct.pack("<Q", 8) + b"\xff\xfe{}    ", "not valid JSON"),
    (struct.pack("<Q", 8) + b"[1, 2]  ", "expected an object"),
    (struct.pack("<Q", 16) + b'{"a":1, "a":1}  ', "duplicate key 'a'"),
], ids=["empty", "short", "header-past-end", "huge-header-length", "npy-file", "bad-json", "bad-utf8",
        "json-list", "duplicate-key"])
def test_malformed_header(tmp_path, content, match):
    _load_error(tmp_path, content, match)


def test_truncated_file(tmp_path):
    raw = _saved_bytes(_model())
    _load_error(tmp_path, raw[:-4], "bias_hh_l1.* run past the end")
    _load_error(tmp_path, raw[:20], "header length")


def _set(name, key, value):
    def fn(header, data):
        header[name][key] = value
    return fn


@pytest.mark.parametrize("fn,match", [
    (_set("weight_ih_l0", "dtype", "F64"), "'weight_ih_l0': dtype 'F64', expected 'F32'"),
    (_set("weight_ih_l0", "dtype", "BF16"), "dtype 'BF16'"),
    (_set("weight_ih_l0", "shape", [16, 2]), r"'weight_ih_l0': shape \[16, 2\] needs 128 bytes .* hold 192"),
    (_set("weight_ih_l0", "shape", [16, -3]), "'weight_ih_l0': shape"),
    (_set("weight_ih_l0", "shape", "16x3"), "'weight_ih_l0': shape"),
    (_set("weight_ih_l0", "data_offsets", [0]), "'weight_ih_l0': data_offsets"),
    (_set("weight_ih_l0", "data_offsets", [192, 0]), "'weight_ih_l0': data_offsets"),
    (_set("weight_ih_l0", "data_offsets", [0.0, 192.0]), "'weight_ih_l0': data_offsets"),
    (lambda h, d: h["bias_ih_l1"].pop("shape"), "'bias_ih_l1': header entry lacks shape"),
    (lambda h, d: h.__setitem__("bias_ih_l1", [1, 2]), "'bias_ih_l1': expected an object"),
], ids=["f64", "bf16", "shape-vs-bytes", "negative-dim", "shape-str", "offsets-short", "offsets-reversed",
        "offsets-float", "no-shape", "entry-list"])
def test_bad_tensor_entry(tmp_path, fn, match):
    _load_error(tmp_path, _edit(fn), match)


def test_offsets_overlap_gap_and_range(tmp_path):
    def overlap(h, d):
        b, e = h["weight_hh_l0"]["data_offsets"]
        h["weight_hh_l0"]["data_offsets"] = [b - 4, e - 4]  # into the previous tensor
    _load_error(tmp_path, _edit(overlap), "tensors 'weight_ih_l0' and 'weight_hh_l0' overlap")

    def same_place(h, d):
        h["weight_hh_l0"]["data_offsets"] = h["weight_ih_l0"]["data_offsets"][:]
        h["weight_hh_l0"]["shape"] = h["weight_ih_l0"]["shape"]
    _load_error(tmp_path, _edit(same_place), "tensors 'weight_(ih|hh)_l0' and 'weight_(ih|hh)_l0' overlap")

    def out_of_range(h, d):
        b, e = h["bias_hh_l1"]["data_offsets"]
        h["bias_hh_l1"]["data_offsets"] = [b + 1000, e + 1000]
    _load_error(tmp_path, _edit(out_of_range), "'bias_hh_l1': data_offsets .* run past the end")

    def gap(h, d):
        for info in h.values():
            if isinstance(info, dict) and "data_offsets" in info:
                info["data_offsets"] = [x + 8 for x in info["data_offsets"]]
        return h, b"\0" * 8 + d
    _load_error(tmp_path, _edit(gap), "bytes 0 to 8 of the data belong to no tensor")

    _load_error(tmp_path, _edit(lambda h, d: (h, d + b"\0" * 4)), "4 trailing bytes")


def _meta(key, value):
    def fn(header, data):
        if value is None:
            del header["__metadata__"][key]
        else:
            header["__metadata__"][key] = value
    return fn


@pytest.mark.parametrize("fn,match", [
    (lambda h, d: h.pop("__metadata__"), "no __metadata__: not saved by gatedrnn"),
    (_meta("class", None), "lacks 'class'"),
    (_meta("config", None), "lacks 'config'"),
    (_meta("format", "pytorch"), "format is 'pytorch', expected 'gatedrnn'"),
    (_meta("format_version", "99"), "newer gatedrnn"),
    (_meta("format_version", "one"), "format_version"),
    (_meta("class", "RNN"), "unknown class 'RNN'"),
    (_meta("config", "{input_size: 3"), "config is not valid JSON"),
    (_meta("config", "[3, 4]"), "config: expected a JSON object"),
    (lambda h, d: h.__setitem__("__metadata__", {"format": 1}), "expected an object of strings"),
], ids=["no-metadata", "no-class", "no-config", "foreign-format", "newer-version", "bad-version",
        "unknown-class", "config-bad-json", "config-list", "metadata-not-strings"])
def test_bad_metadata(tmp_path, fn, match):
    _load_error(tmp_path, _edit(fn), match)


def _config(**changes):
    def fn(header, data):
        config = json.loads(header["__metadata__"]["config"])
        config.update(changes)
        header["__metadata__"]["config"] = json.dumps(config)
    return fn


@pytest.mark.parametrize("fn,match", [
    (_config(hidden_size=0), "LSTM rejects the configuration .*hidden_size"),
    (_config(hidden_size="4"), "LSTM rejects the configuration .*hidden_size"),
    (_config(proj_size=9), "LSTM rejects the configuration .*proj_size"),
    (_config(dropout=0.5), "LSTM rejects the configuration .*dropout"),
    (_meta("class", "GRU"), "GRU rejects the configuration .*proj_size"),
], ids=["hidden-0", "hidden-str", "proj-too-big", "unknown-arg", "wrong-class"])
def test_config_rejected(tmp_path, fn, match):
    _load_error(tmp_path, _edit(fn), match)


def test_tensors_do_not_match_config(tmp_path):
    _load_error(tmp_path, _edit(_config(hidden_size=5)), "do not match LSTM.*'weight_ih_l0': expected shape")
    _load_error(tmp_path, _edit(_config(num_layers=1)), "do not match .*unexpected key.*weight_ih_l1")
    _load_error(tmp_path, _edit(_config(bias=False)), "do not match .*unexpected key.*bias_ih_l0")
    _load_error(tmp_path, _edit(_config(bidirectional=True)), "do not match .*missing key.*weight_ih_l0_reverse")

    def lstm_as_cell(h, d):
        h["__metadata__"]["class"] = "LSTMCell"
        h["__metadata__"]["config"] = json.dumps({"input_size": 3, "hidden_size": 4})
    _load_error(tmp_path, _edit(lstm_as_cell), "do not match LSTMCell.*key")

    def drop_last(h, d):  # remove a tensor, keeping the layout valid
        b, e = h.pop("bias_hh_l1")["data_offsets"]
        assert e == len(d)
        return h, d[:b]
    _load_error(tmp_path, _edit(drop_last), "missing key.*'bias_hh_l1'")

    def nan(h, d):
        b, _ = h["weight_hh_l1"]["data_offsets"]
        return h, d[:b] + np.float32(np.nan).tobytes() + d[b + 4:]
    _load_error(tmp_path, _edit(nan), "'weight_hh_l1': 1 non-finite")


def test_unpadded_and_misaligned_files_still_load(tmp_path):
    """The format allows any header length; data at offsets that are not 4-byte aligned in
    memory must still read correctly."""
    m = _model()
    header, data = _parts(m)
    text = json.dumps(header).encode() + b" "  # an odd length: every tensor misaligned
    path = tmp_path / "m.safetensors"
    path.write_bytes(struct.pack("<Q", len(text)) + text + data)
    assert_same_model(gatedrnn.load(path), m)


# -- the safetensors package ------------------------------------------------------------------

def test_read_by_safetensors(tmp_path):
    st = pytest.importorskip("safetensors")
    from safetensors.numpy import load_file

    m = make("GRU", dict(input_size=5, hidden_size=17, num_layers=2, bidirectional=True))
    path = tmp_path / "m.safetensors"
    m.save(path)
    tensors = load_file(str(path))
    sd = m.state_dict()
    assert sorted(tensors) == sorted(sd)
    assert_same_bits([tensors[k] for k in sd], list(sd.values()))
    with st.safe_open(str(path), framework="numpy") as f:
        meta = f.metadata()
    assert meta["format"] == "gatedrnn" and meta["class"] == "GRU"
    assert json.loads(meta["config"]) == json.loads(json.dumps(m._init_args()))


@pytest.mark.parametrize("cfg", [CONFIGS[2], CONFIGS[8], CONFIGS[11]], ids=config_id)
def test_written_by_safetensors(tmp_path, cfg):
    pytest.importorskip("safetensors")
    from safetensors.numpy import save_file

    m = make(*cfg)
    metadata = {"format": "gatedrnn", "format_version": "1", "class": cfg[0], "config": json.dumps(m._init_args())}
    path = tmp_path / "m.safetensors"
    save_file(m.state_dict(), str(path), metadata=metadata)
    assert_same_model(gatedrnn.load(path), m)

    save_file(m.state_dict(), str(path))  # no metadata: cannot know the configuration
    with pytest.raises(ValueError, match="no __metadata__"):
        gatedrnn.load(path)
    save_file({k: v.astype(np.float64) for k, v in m.state_dict().items()}, str(path), metadata=metadata)
    with pytest.raises(ValueError, match="dtype 'F64'"):
        gatedrnn.load(path)


def test_torch_module_saved_by_safetensors(tmp_path):
    """A torch.nn.LSTM's state_dict written by safetensors.torch (PyTorch's names) with
    gatedrnn's metadata loads into the model from_torch gives, and matches torch."""
    pytest.importorskip("safetensors")
    torch = pytest.importorskip("torch")
    from safetensors.torch import save_file

    torch.manual_seed(0)
    t = torch.nn.LSTM(6, 16, num_layers=2, bidirectional=True, proj_size=5).eval()
    config = dict(input_size=6, hidden_size=16, num_layers=2, bidirectional=True, proj_size=5)
    metadata = {"format": "gatedrnn", "format_version": "1", "class": "LSTM", "config": json.dumps(config)}
    path = tmp_path / "t.safetensors"
    save_file(t.state_dict(), str(path), metadata=metadata)
    loaded = gatedrnn.load(path)
    assert_same_bits(run(loaded), run(gatedrnn.from_torch(t)))
    x = np.random.default_rng(0).standard_normal((7, 3, 6)).astype(np.float32)
    with torch.no_grad():
        expected = t(torch.from_numpy(x))[0].numpy()
    np.testing.assert_allclose(loaded(x)[0], expected, rtol=1e-5, atol=2e-5)


def test_random_damage_gives_value_error_or_a_model(tmp_path):
    """Bytes of the length field and header overwritten at random, or the file cut short:
    load returns a model or raises ValueError, nothing else (no crash, no other error)."""
    raw = _saved_bytes(make("GRU", dict(input_size=3, hidden_size=4, bidirectional=True)))
    (n,) = struct.unpack("<Q", raw[:8])
    rng = np.random.default_rng(0)
    path = tmp_path / "damaged.safetensors"
    for _ in range(300):
        damaged = bytearray(raw)
        if rng.random() < 0.2:
            damaged = damaged[:rng.integers(0, len(raw))]
        else:
            for pos in rng.integers(0, 8 + n, size=rng.integers(1, 4)):
                damaged[pos] = rng.choice([rng.integers(0, 256), ord(rng.choice(list('{}[]",:0123456789 ')))])
        path.write_bytes(bytes(damaged))
        try:
            gatedrnn.load(path)
        except ValueError as exc:
            assert repr(str(path)) in str(exc)
