"""Documentation and types that cannot rot.

* Every public name (``gatedrnn.__all__``, ``gatedrnn.reference.__all__``,
  ``gatedrnn.onnx.__all__``, and the public methods and properties of their classes) has a
  docstring with a one-line summary and an example (``>>>`` lines).
* Those examples run and print what they show (doctest). They assume ``import numpy as
  np`` and ``import gatedrnn``, as NumPy's docstrings assume ``np``; an example importing an
  optional library that is not installed (torch, keras, onnx) is skipped.
* The type stub of the compiled core (``_core.pyi``) matches the module: ``mypy.stubtest``,
  and the argument names of every function against the signatures pybind11 writes into
  the docstrings (stubtest cannot read those).
* ``mypy --strict -p gatedrnn`` and ``mypy --strict examples/`` pass, against the package
  this suite imports: the installed one (with its ``py.typed``) or ``python/`` on
  PYTHONPATH. (These need mypy: ``pip install mypy``; skipped without it.)
"""

import ast
import doctest
import importlib
import inspect
import io
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest

import gatedrnn

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = Path(gatedrnn.__file__).resolve().parent

# Keras 3 runs on the backend KERAS_BACKEND names; the tests use torch (as test_keras.py).
os.environ.setdefault("KERAS_BACKEND", "torch")


# ----------------------------------------------------------------------------------
# The public names.

def _public_members(cls):
    """(name, function or property) of the public methods and properties of ``cls``,
    inherited ones included, ``__call__`` too; those of builtins (tuple.count) left out."""
    for name in sorted(dir(cls)):
        if name.startswith("_") and name != "__call__":
            continue
        owner = next(k for k in cls.__mro__ if name in vars(k))
        if not owner.__module__.startswith("gatedrnn"):
            continue
        attr = vars(owner)[name]
        if isinstance(attr, (staticmethod, classmethod)):
            attr = attr.__func__
        if inspect.isfunction(attr) or isinstance(attr, property):
            yield name, attr


def public_objects():
    """{qualified name: object} of every public name of the API."""
    out = {}
    for module in (gatedrnn, gatedrnn.reference, gatedrnn.onnx):
        out[module.__name__] = module
        for name in module.__all__:
            obj = getattr(module, name)
            if not (inspect.ismodule(obj) or callable(obj)):
                continue  # data (__version__, ONNX_ACTIVATIONS): no docstring of its own
            qualified = obj.__name__ if inspect.ismodule(obj) else f"{module.__name__}.{name}"
            out[qualified] = obj
            if inspect.isclass(obj):
                for member, attr in _public_members(obj):
                    out[f"{qualified}.{member}"] = attr
    return out


PUBLIC = public_objects()


def test_public_names_are_found():
    """The walk sees the API (so that the test below cannot pass by checking nothing)."""
    expected = {
        "gatedrnn", "gatedrnn.reference", "gatedrnn.onnx",
        "gatedrnn.LSTM", "gatedrnn.LSTM.__call__", "gatedrnn.LSTM.state_dict", "gatedrnn.LSTM.load_state_dict",
        "gatedrnn.LSTM.save", "gatedrnn.LSTM.stream", "gatedrnn.GRU.__call__", "gatedrnn.LSTMCell.__call__",
        "gatedrnn.GRUCell.__call__", "gatedrnn.GRUCell.state_dict",
        "gatedrnn.Stream", "gatedrnn.Stream.step", "gatedrnn.Stream.__call__", "gatedrnn.Stream.reset",
        "gatedrnn.Stream.state",
        "gatedrnn.from_torch", "gatedrnn.from_onnx", "gatedrnn.from_keras", "gatedrnn.load",
        "gatedrnn.available_isas", "gatedrnn.selected_isa", "gatedrnn.set_isa", "gatedrnn.cpu_features",
        "gatedrnn.set_num_threads", "gatedrnn.get_num_threads",
        "gatedrnn.reference.lstm", "gatedrnn.reference.gru", "gatedrnn.reference.lstm_cell",
        "gatedrnn.reference.gru_cell", "gatedrnn.reference.sigmoid", "gatedrnn.reference.tanh",
        "gatedrnn.reference.round_bf16", "gatedrnn.reference.quantize_int8",
        "gatedrnn.reference.OnnxActivationSlot", "gatedrnn.reference.onnx_activation",
        "gatedrnn.reference.onnx_activation_slots", "gatedrnn.reference.onnx_lstm", "gatedrnn.reference.onnx_gru",
        "gatedrnn.onnx.lstm", "gatedrnn.onnx.gru",
    }
    assert expected <= set(PUBLIC), sorted(expected - set(PUBLIC))


@pytest.mark.parametrize("name", sorted(PUBLIC))
def test_docstring_with_example(name):
    """A summary line, then (somewhere) an example. ``__doc__`` itself, not
    ``inspect.getdoc``, which would lend an override its base method's docstring."""
    doc = PUBLIC[name].__doc__
    assert doc and doc.strip(), f"{name} has no docstring"
    summary = doc.strip().splitlines()[0].strip()
    assert len(summary) > 10, f"{name}: the docstring's first line should summarise it, got {summary!r}"
    assert ">>>" in doc, f"{name}: the docstring has no example (doctest '>>>' lines)"


# ----------------------------------------------------------------------------------
# The examples run.

GLOBS = {"np": np, "gatedrnn": gatedrnn}
OPTIONS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
# NumPy's defaults, whatever an earlier test set.
PRINT_OPTIONS = dict(precision=8, threshold=1000, edgeitems=3, linewidth=75, suppress=False, nanstr="nan",
                     infstr="inf", sign="-", floatmode="maxprec", legacy=False)


def _doctests():
    """{name: DocTest} of the docstrings of the modules that define the public names."""
    modules = {gatedrnn, gatedrnn.reference, gatedrnn.onnx}
    for obj in PUBLIC.values():
        if not inspect.ismodule(obj) and getattr(obj, "__module__", None) in sys.modules:
            modules.add(sys.modules[obj.__module__])
    finder = doctest.DocTestFinder()
    tests = {}
    for module in sorted(modules, key=lambda m: m.__name__):
        for test in finder.find(module, module.__name__, globs=GLOBS):
            if test.examples:
                tests[test.name] = test
    return tests


DOCTESTS = _doctests()
_IMPORT = re.compile(r"^\s*(?:from\s+([A-Za-z_]\w*)|import\s+([^\n#]+))", re.MULTILINE)


def _imported_modules(source):
    """The top-level modules the example's import statements name."""
    modules = set()
    for from_module, names in _IMPORT.findall(source):
        if from_module:
            modules.add(from_module)
        else:
            modules.update(part.split()[0].split(".")[0] for part in names.split(",") if part.strip())
    return modules


def _importable(module):
    try:
        importlib.import_module(module)
    except Exception:  # ImportError, or a library that fails on import (a Keras backend)
        return False
    return True


def test_doctests_cover_the_public_names():
    """Every public function, class and method with an example has its doctest here."""
    found = {t.name for t in DOCTESTS.values()}
    for name, obj in PUBLIC.items():
        if inspect.ismodule(obj) or not getattr(obj, "__doc__", None) or ">>>" not in obj.__doc__:
            continue
        target = obj.fget if isinstance(obj, property) else obj
        assert f"{target.__module__}.{target.__qualname__}" in found, name


@pytest.mark.parametrize("name", sorted(DOCTESTS))
def test_doctest(name):
    test = DOCTESTS[name]
    source = "".join(example.source for example in test.examples)
    missing = sorted(m for m in _imported_modules(source) if not _importable(m))
    if missing:
        pytest.skip(f"the example imports {', '.join(missing)}, not installed")
    isa, threads = gatedrnn.selected_isa(), gatedrnn._threads._default_threads
    out = io.StringIO()
    runner = doctest.DocTestRunner(optionflags=OPTIONS)
    try:
        with np.printoptions(**PRINT_OPTIONS):
            runner.run(test, out=out.write, clear_globs=True)
    finally:  # an example that fails half-way must not leave its settings behind
        gatedrnn.set_isa(isa)
        gatedrnn._threads._default_threads = threads
    assert runner.failures == 0, out.getvalue()


# ----------------------------------------------------------------------------------
# The stub of the compiled core.

STUB = PACKAGE / "_core.pyi"


def _split_top_level(text):
    """Split at the commas outside brackets."""
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return [p.strip() for p in parts if p.strip()]


def _runtime_signature(func):
    """[(name, has a default)] from the signature pybind11 puts on the docstring's
    first line, ``name(a: type, b: type = default) -> type``; or, for the core's plain
    C methods (Network.call, cell, advance), from their ``__text_signature__``."""
    if getattr(func, "__text_signature__", None):
        return [(p.name, p.default is not p.empty) for p in inspect.signature(func).parameters.values()]
    first = func.__doc__.strip().splitlines()[0]
    match = re.fullmatch(r"\w+\((.*)\) -> .*", first)
    assert match, f"unexpected pybind11 signature line {first!r}"
    params = []
    for part in _split_top_level(match.group(1)):
        params.append((part.split(":", 1)[0].strip(), "=" in part))
    return params


def _stub_signatures():
    """{qualified name: [(name, has a default)]} of the functions in the stub."""
    tree = ast.parse(STUB.read_text())
    out = {}

    def params(fn):
        args = fn.args
        positional = args.posonlyargs + args.args
        with_default = len(args.defaults)
        result = [(a.arg, i >= len(positional) - with_default) for i, a in enumerate(positional)]
        result += [(a.arg, d is not None) for a, d in zip(args.kwonlyargs, args.kw_defaults)]
        return result

    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            out[node.name] = params(node)
        elif isinstance(node, ast.ClassDef):
            for item in node.body:
                if isinstance(item, ast.FunctionDef):
                    out[f"{node.name}.{item.name}"] = params(item)
    return out


def test_core_stub_signatures():
    """Every function and method of ``gatedrnn._core`` is in the stub with pybind11's
    argument names, in order, and the same ones optional."""
    from gatedrnn import _core

    stub = _stub_signatures()
    runtime = {}
    for name, obj in vars(_core).items():
        if name.startswith("_"):
            continue
        if inspect.isclass(obj):
            for member in ("__init__", *(m for m in vars(obj) if not m.startswith("_"))):
                runtime[f"{name}.{member}"] = _runtime_signature(getattr(obj, member))
        elif callable(obj):
            runtime[name] = _runtime_signature(obj)
    assert set(runtime) == set(stub), set(runtime) ^ set(stub)
    for name, params in runtime.items():
        assert stub[name] == params, f"{name}: stub {stub[name]}, runtime {params}"


def _mypy_available():
    try:
        import mypy  # noqa: F401
    except ImportError:
        pytest.skip("mypy is not installed (pip install mypy)")


@pytest.fixture(scope="module")
def typed_package(tmp_path_factory):
    """A directory holding a copy of the imported gatedrnn's sources, stubs and py.typed
    (not the compiled module), for MYPYPATH: mypy neither reports errors in an installed
    package nor accepts site-packages in MYPYPATH, and this checks what is imported,
    installed or not."""
    _mypy_available()
    root = tmp_path_factory.mktemp("typed")  # the working directory of the runs: nothing else in it
    copy = root / "src" / "gatedrnn"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("*.so", "*.pyd", "__pycache__"))
    assert (copy / "py.typed").exists(), "gatedrnn ships no py.typed marker"
    return root


# One cache for every run of the suite: a cold mypy run over numpy, onnx and the rest takes
# about 10 s, a warm one about 1 s.
MYPY_CACHE = Path(tempfile.gettempdir()) / f"gatedrnn-mypy-cache-{os.getuid() if hasattr(os, 'getuid') else 0}"


def _run_mypy(args, typed_package, *, mypy_path="src", runtime_path=False):
    """``python -m args`` in the ``typed_package`` directory, MYPYPATH its ``mypy_path``
    (the copy). ``runtime_path``: keep PYTHONPATH (made absolute) so that the compiled
    module imports (stubtest); else drop it, so that mypy sees the copy (an installed
    gatedrnn comes after MYPYPATH)."""
    env = dict(os.environ, MYPYPATH=str(typed_package / mypy_path))
    env.pop("PYTHONPATH", None)
    if runtime_path and os.environ.get("PYTHONPATH"):
        env["PYTHONPATH"] = os.pathsep.join(os.path.abspath(p) for p in os.environ["PYTHONPATH"].split(os.pathsep))
    return subprocess.run(
        [sys.executable, "-m", *args], cwd=typed_package, env=env, capture_output=True, text=True, timeout=600)


def _mypy_strict(targets, typed_package):
    result = _run_mypy(["mypy", "--strict", "--config-file", str(ROOT / "pyproject.toml"),
                        "--cache-dir", str(MYPY_CACHE), "--no-error-summary", "--hide-error-context",
                        *targets], typed_package)
    assert result.returncode == 0, result.stdout + result.stderr


def test_core_stub_matches_runtime(typed_package):
    """stubtest: every name of the compiled module is in the stub and the other way round,
    classes and their methods alike. Only the stub is analysed (beside an empty package
    stub), without NumPy's stubs: this is about names, and analysing NumPy would triple
    the time."""
    stubs = typed_package / "stub-only" / "gatedrnn"
    stubs.mkdir(parents=True, exist_ok=True)
    (stubs / "__init__.pyi").write_text("")
    shutil.copy(typed_package / "src" / "gatedrnn" / "_core.pyi", stubs)
    config = typed_package / "stubtest.ini"
    config.write_text("[mypy]\n[mypy-numpy,numpy.*]\nfollow_imports = skip\nfollow_imports_for_stubs = True\n")
    result = _run_mypy(["mypy.stubtest", "gatedrnn._core", "--mypy-config-file", str(config)],
                       typed_package, mypy_path="stub-only", runtime_path=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_strict_package(typed_package):
    _mypy_strict(["-p", "gatedrnn"], typed_package)


def test_mypy_strict_examples(typed_package):
    examples = ROOT / "examples"
    if not any(examples.glob("*.py")):
        pytest.skip("no examples/ next to the tests")
    _mypy_strict([str(examples)], typed_package)
