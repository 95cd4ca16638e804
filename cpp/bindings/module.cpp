// pybind11 bindings: validate, convert arrays, call the C++ core (the GIL released,
// except for calls of about a microsecond's work).
// Python (python/gatedrnn/_layers.py) validates first with friendlier messages; every
// check is repeated here so the core never sees a shape it did not expect.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "gatedrnn/dispatch.h"
#include "gatedrnn/rnn.h"

namespace py = pybind11;
using namespace gatedrnn;

namespace {

// ALIGNED: NumPy copies a misaligned buffer (a view at an odd byte offset), which the
// kernels must not read through float / int64 pointers.
constexpr int kInputFlags = py::array::c_style | py::array::forcecast | py::detail::npy_api::NPY_ARRAY_ALIGNED_;
using FloatArray = py::array_t<float, kInputFlags>;
using IndexArray = py::array_t<int64_t, kInputFlags>;

// A float32 array argument, C-contiguous and aligned (its type caster is below). Such
// arrays are taken as they are; anything else is converted by NumPy (a copy), as
// py::array_t<float, kInputFlags> would do, but without array_t's fixed costs per argument
// (an empty placeholder array and a full PyArray_FromAny), which on a small model cost
// about as much as the step itself.
class Floats {
public:
    Floats() = default;
    explicit Floats(py::object a) : a_(std::move(a)) {}
    const float* data() const { return reinterpret_cast<const float*>(proxy()->data); }
    float* mutable_data() const { return reinterpret_cast<float*>(proxy()->data); }  // writable arrays only
    py::ssize_t ndim() const { return proxy()->nd; }
    py::ssize_t shape(py::ssize_t i) const { return proxy()->dimensions[i]; }
    const py::ssize_t* shape() const { return proxy()->dimensions; }

private:
    const py::detail::PyArray_Proxy* proxy() const { return py::detail::array_proxy(a_.ptr()); }
    py::object a_;
};

std::string shape_str(const std::vector<py::ssize_t>& s) {
    std::string out = "(";
    for (size_t i = 0; i < s.size(); ++i)
        out += (i ? ", " : "") + std::to_string(s[i]) + (s.size() == 1 ? "," : "");
    return out + ")";
}

template <class A>  // py::array or Floats
std::vector<py::ssize_t> shape_of(const A& a) {
    return std::vector<py::ssize_t>(a.shape(), a.shape() + a.ndim());
}

template <class A>
void check_shape(const A& a, const std::vector<py::ssize_t>& expected, const std::string& name) {
    if (shape_of(a) != expected)
        throw std::invalid_argument(name + ": expected shape " + shape_str(expected) + ", got " +
                                    shape_str(shape_of(a)));
}

// Compares without allocating (it runs on every call); builds the message only on failure.
template <class A>
void check_shape(const A& a, std::initializer_list<py::ssize_t> expected, const char* name) {
    bool same = a.ndim() == static_cast<py::ssize_t>(expected.size());
    for (size_t i = 0; same && i < expected.size(); ++i) same = a.shape(static_cast<py::ssize_t>(i)) == expected.begin()[i];
    if (!same) check_shape(a, std::vector<py::ssize_t>(expected), std::string(name));
}

std::string key(const char* base, int layer, int d) {
    return std::string(base) + "_l" + std::to_string(layer) + (d ? "_reverse" : "");
}

}  // namespace

namespace {

constexpr int kReady = py::detail::npy_api::NPY_ARRAY_C_CONTIGUOUS_ | py::detail::npy_api::NPY_ARRAY_ALIGNED_;

PyObject* float32_descr() {
    static PyObject* const f32 = py::dtype::of<float>().release().ptr();  // NumPy's float32 descriptor
    return f32;
}

// Whether a is a float32 ndarray (of any layout).
bool is_float32_array(py::handle a) {
    return py::detail::npy_api::get().PyArray_Check_(a.ptr()) && py::detail::array_proxy(a.ptr())->descr == float32_descr();
}

// Whether a is a float32 ndarray with all of `flags` (kReady: usable without a copy).
bool is_float32_array(py::handle a, int flags) {
    return is_float32_array(a) && (py::detail::array_proxy(a.ptr())->flags & flags) == flags;
}

// a as Floats: a C-contiguous, aligned float32 array as it is, anything else converted by
// NumPy (a copy; its errors, e.g. MemoryError for a huge broadcast view, propagate).
Floats to_floats(py::handle a) {
    if (is_float32_array(a, kReady)) return Floats(py::reinterpret_borrow<py::object>(a));
    auto& api = py::detail::npy_api::get();
    PyObject* converted = api.PyArray_FromAny_(a.ptr(), py::dtype::of<float>().release().ptr(), 0, 0,
                                               py::detail::npy_api::NPY_ARRAY_ENSUREARRAY_ | kInputFlags, nullptr);
    if (converted == nullptr) throw py::error_already_set();
    return Floats(py::reinterpret_steal<py::object>(converted));
}

// A new, uninitialised float32 array: NumPy's constructor called directly (py::array_t's
// adds about a tenth of a small model's step per array).
FloatArray new_floats(std::initializer_list<py::ssize_t> shape) {
    auto& api = py::detail::npy_api::get();
    PyObject* descr = float32_descr();
    Py_INCREF(descr);  // the constructor steals a reference
    PyObject* a = api.PyArray_NewFromDescr_(api.PyArray_Type_, descr, static_cast<int>(shape.size()), shape.begin(),
                                            nullptr, nullptr, 0, nullptr);
    if (a == nullptr) throw py::error_already_set();
    return py::reinterpret_steal<FloatArray>(a);
}

// A stream's state, updated in place: it must be a writable, C-contiguous float32 array.
Floats state_array(py::handle a, const char* name) {
    constexpr int kWritable = kReady | py::detail::npy_api::NPY_ARRAY_WRITEABLE_;
    if (!is_float32_array(a, kWritable))
        throw py::type_error(std::string(name) + ": expected a writable, C-contiguous float32 array (a stream's state)");
    return Floats(py::reinterpret_borrow<py::object>(a));
}

float* data_of(FloatArray& a) { return reinterpret_cast<float*>(py::detail::array_proxy(a.ptr())->data); }

// The thread count of calls made with num_threads = 0: gatedrnn.set_num_threads()'s,
// which Python passes on here (reading it there would cost a function call per step).
std::atomic<int> default_threads{1};

int resolve_threads(int num_threads) {
    if (num_threads == 0) return default_threads.load(std::memory_order_relaxed);
    if (num_threads < 0)
        throw std::invalid_argument("num_threads: expected >= 1 (0: the default), got " + std::to_string(num_threads));
    return num_threads;
}

// Runs a call. One of under ~1e5 FLOPs (a microsecond of work, a small model's streaming
// step) keeps the GIL: releasing and retaking it would add a tenth to such a call, and
// no other Python thread could get much done in the time.
void run(const Network& net, const ForwardCall& call) {
    const KernelTable& kernels = active_kernels();  // may throw (bad GATEDRNN_ISA): before releasing the GIL
    if (net.flops(call.T, call.B) < 1e5) {
        net.forward(call, kernels);
        return;
    }
    py::gil_scoped_release release;
    net.forward(call, kernels);
}

}  // namespace

namespace pybind11::detail {
template <>
struct type_caster<Floats> {
    PYBIND11_TYPE_CASTER(Floats, const_name("numpy.ndarray[numpy.float32]"));

    bool load(handle src, bool convert) {
        if (!convert && !is_float32_array(src, kReady)) return false;
        value = to_floats(src);
        return true;
    }

    static handle cast(const Floats&, return_value_policy, handle) { return none().release(); }  // never returned
};
}  // namespace pybind11::detail

namespace {

// A Network plus the arrays its configuration needs to validate calls.
class PyNetwork {
public:
    PyNetwork(const std::string& kind, int input_size, int hidden_size, int num_layers,
              bool bidirectional, int proj_size, bool linear_before_reset, const py::list& weights,
              const py::dict& options)
        : PyNetwork(make_config(kind, input_size, hidden_size, num_layers, bidirectional, proj_size,
                                linear_before_reset, options),
                    weights) {}

    const NetworkConfig& config() const { return net_.config(); }

    py::tuple forward(const Floats& x, const std::optional<Floats>& h0,
                      const std::optional<Floats>& c0, const std::optional<IndexArray>& lengths,
                      bool batch_first, int num_threads) const {
        Outputs o = forward_impl(x, h0, c0, lengths, batch_first, num_threads);
        if (o.c_n) return py::make_tuple(o.y, o.h_n, *o.c_n);
        return py::make_tuple(o.y, o.h_n, py::none());
    }

    // A layer's call where nothing needs converting: x a 3-D float32 ndarray; state None,
    // or an LSTM's tuple (h0, c0) / a GRU's h0, each None or a float32 ndarray. Returns
    // (y, (h_n, c_n)) (LSTM) or (y, h_n) (GRU), or None for any other arguments: the
    // Python side then converts them or says what is wrong. One call from Python.
    py::object call(py::handle x, py::handle state, bool batch_first, int num_threads) const {
        std::optional<Floats> h0, c0;
        if (!is_float32_array(x) || py::detail::array_proxy(x.ptr())->nd != 3 || !take_state(state, h0, c0))
            return py::none();
        Outputs o = forward_impl(to_floats(x), h0, c0, std::nullopt, batch_first, num_threads);
        if (o.c_n) return py::make_tuple(o.y, py::make_tuple(o.h_n, *o.c_n));
        return py::make_tuple(o.y, o.h_n);
    }

    // One step of a single-layer, single-direction network (the cells): x (B, I), states
    // (B, H_out) and (B, H). Returns (h, c or None) without the time and layer axes.
    py::tuple step(const Floats& x, const std::optional<Floats>& h0,
                   const std::optional<Floats>& c0, int num_threads) const {
        auto [h_n, c_n] = step_impl(x, h0, c0, num_threads);
        if (c_n) return py::make_tuple(h_n, *c_n);
        return py::make_tuple(h_n, py::none());
    }

    // The cells' call where its arguments need no conversion: x a 2-D float32 ndarray;
    // state None, or an LSTM's tuple (h, c) / a GRU's h, each None or a float32 ndarray.
    // Returns (h', c') (LSTM) or h' (GRU), or None for any other arguments: the Python
    // side then converts them or says what is wrong. One call from Python per step.
    py::object cell(py::handle x, py::handle state, int num_threads) const {
        std::optional<Floats> h0, c0;
        if (!is_float32_array(x) || py::detail::array_proxy(x.ptr())->nd != 2 || !take_state(state, h0, c0))
            return py::none();
        auto [h_n, c_n] = step_impl(to_floats(x), h0, c0, num_threads);
        if (c_n) return py::make_tuple(h_n, *c_n);
        return std::move(h_n);
    }

    // Streaming: runs x from the states in h (and c) and leaves the final states there,
    // in place (the driver reads a layer's initial state before it writes its final one).
    // x is one step (B, I) -> y (B, H_out), or a chunk (T, B, I) / (B, T, I) -> y likewise.
    // h and c are the stream's own float32 arrays (L, B, H_out) and (L, B, H).
    FloatArray advance(const Floats& x, py::handle h_state, py::handle c_state, bool batch_first,
                       int num_threads) const {
        const NetworkConfig& c = net_.config();
        const bool lstm = c.cell == CellType::lstm;
        if (c.bidirectional) throw std::invalid_argument("stream: a bidirectional network cannot stream");
        if (c.reverse) throw std::invalid_argument("stream: a reverse network cannot stream (it needs the whole sequence)");
        if (x.ndim() != 2 && x.ndim() != 3)
            throw std::invalid_argument("x: expected one step (B, " + std::to_string(c.input_size) +
                                        ") or a chunk of steps, got shape " + shape_str(shape_of(x)));
        const bool one_step = x.ndim() == 2;
        const Floats h = state_array(h_state, "h");
        const std::optional<Floats> cs = c_state.is_none() ? std::nullopt : std::optional<Floats>(state_array(c_state, "c"));
        const py::ssize_t B = h.ndim() == 3 ? h.shape(1) : -1;
        const py::ssize_t T = one_step ? 1 : (batch_first ? x.shape(1) : x.shape(0));
        const py::ssize_t xb = one_step ? x.shape(0) : (batch_first ? x.shape(0) : x.shape(1));
        if (x.shape(x.ndim() - 1) != c.input_size || xb != B) {
            const std::string want = one_step ? "(" + std::to_string(B) + ", " + std::to_string(c.input_size) + ")"
                                     : batch_first ? "(" + std::to_string(B) + ", T, " + std::to_string(c.input_size) + ")"
                                                   : "(T, " + std::to_string(B) + ", " + std::to_string(c.input_size) + ")";
            throw std::invalid_argument("x: expected shape " + want + " (batch_size, input_size), got " +
                                        shape_str(shape_of(x)));
        }
        if (T > INT32_MAX / 2 || B > INT32_MAX / 2 || T * B > INT32_MAX)
            throw std::invalid_argument("x: too many timesteps or rows (T * B must be below 2**31), got shape " +
                                        shape_str(shape_of(x)));
        num_threads = resolve_threads(num_threads);
        check_shape(h, {c.num_layers, B, c.out_size()}, "h");
        if (lstm) {
            if (!cs) throw std::invalid_argument("c: an LSTM stream needs its cell state");
            check_shape(*cs, {c.num_layers, B, c.hidden_size}, "c");
        }
        FloatArray y = one_step ? new_floats({B, c.out_size()})
                                : batch_first ? new_floats({B, T, c.out_size()}) : new_floats({T, B, c.out_size()});
        ForwardCall call;
        call.x = x.data();
        call.T = static_cast<int>(T);
        call.B = static_cast<int>(B);
        call.batch_first = batch_first && !one_step;
        call.h0 = h.data();
        call.h_n = h.mutable_data();
        if (lstm) {
            call.c0 = cs->data();
            call.c_n = cs->mutable_data();
        }
        call.y = data_of(y);
        call.num_threads = num_threads;
        run(net_, call);
        return y;
    }

private:
    struct Outputs {
        FloatArray y, h_n;
        std::optional<FloatArray> c_n;  // LSTM
    };

    Outputs forward_impl(const Floats& x, const std::optional<Floats>& h0, const std::optional<Floats>& c0,
                         const std::optional<IndexArray>& lengths, bool batch_first, int num_threads) const {
        const NetworkConfig& c = net_.config();
        const bool lstm = c.cell == CellType::lstm;
        const int D = c.directions(), LD = c.num_layers * D, Hout = c.out_size(), H = c.hidden_size;
        if (x.ndim() != 3)
            throw std::invalid_argument("x: expected a 3-D array, got shape " + shape_str(shape_of(x)));
        const py::ssize_t T = batch_first ? x.shape(1) : x.shape(0);
        const py::ssize_t B = batch_first ? x.shape(0) : x.shape(1);
        if (x.shape(2) != c.input_size)
            throw std::invalid_argument("x: expected feature size " + std::to_string(c.input_size) +
                                        " (input_size), got shape " + shape_str(shape_of(x)));
        if (T > INT32_MAX / 2 || B > INT32_MAX / 2 || T * B > INT32_MAX)
            throw std::invalid_argument("x: too many timesteps or rows (T * B must be below 2**31), got shape " +
                                        shape_str(shape_of(x)));
        num_threads = resolve_threads(num_threads);
        if (h0) check_shape(*h0, {LD, B, Hout}, "h0");
        if (c0) {
            if (!lstm) throw std::invalid_argument("c0: a GRU has no cell state");
            check_shape(*c0, {LD, B, H}, "c0");
        }
        if (lengths) {
            check_shape(*lengths, {B}, "lengths");
            const int64_t* p = lengths->data();
            for (py::ssize_t b = 0; b < B; ++b)
                if (p[b] < 0 || p[b] > T)
                    throw std::invalid_argument("lengths: expected values in [0, " + std::to_string(T) +
                                                "] (T), got " + std::to_string(p[b]) + " at index " +
                                                std::to_string(b));
        }
        const py::ssize_t W = static_cast<py::ssize_t>(D) * Hout;
        FloatArray y = batch_first ? new_floats({B, T, W}) : new_floats({T, B, W});
        FloatArray h_n = new_floats({LD, B, Hout});
        std::optional<FloatArray> c_n;
        if (lstm) c_n = new_floats({LD, B, H});

        ForwardCall call;
        call.x = x.data();
        call.T = static_cast<int>(T);
        call.B = static_cast<int>(B);
        call.batch_first = batch_first;
        call.h0 = h0 ? h0->data() : nullptr;
        call.c0 = c0 ? c0->data() : nullptr;
        call.lengths = lengths ? lengths->data() : nullptr;
        call.y = data_of(y);
        call.h_n = data_of(h_n);
        call.c_n = c_n ? data_of(*c_n) : nullptr;
        call.num_threads = num_threads;
        run(net_, call);
        return {std::move(y), std::move(h_n), std::move(c_n)};
    }

    // A call's state as the fast paths take it: None, or an LSTM's tuple (h, c) / a GRU's
    // h, each None or a float32 ndarray (strided ones are copied). False for anything else.
    bool take_state(py::handle state, std::optional<Floats>& h0, std::optional<Floats>& c0) const {
        const auto take = [](py::handle a, std::optional<Floats>& out) {
            if (a.is_none()) return true;
            if (!is_float32_array(a)) return false;
            out = to_floats(a);
            return true;
        };
        if (net_.config().cell != CellType::lstm) return take(state, h0);
        if (state.is_none()) return true;
        PyObject* t = state.ptr();
        return PyTuple_CheckExact(t) && PyTuple_GET_SIZE(t) == 2 && take(PyTuple_GET_ITEM(t, 0), h0) &&
               take(PyTuple_GET_ITEM(t, 1), c0);
    }

    std::pair<FloatArray, std::optional<FloatArray>> step_impl(const Floats& x, const std::optional<Floats>& h0,
                                                               const std::optional<Floats>& c0, int num_threads) const {
        const NetworkConfig& c = net_.config();
        const bool lstm = c.cell == CellType::lstm;
        if (c.num_layers != 1 || c.bidirectional)
            throw std::invalid_argument("step: needs a single-layer, single-direction network");
        if (x.ndim() != 2 || x.shape(1) != c.input_size)
            throw std::invalid_argument("x: expected shape (B, " + std::to_string(c.input_size) +
                                        ") (input_size), got " + shape_str(shape_of(x)));
        num_threads = resolve_threads(num_threads);
        const py::ssize_t B = x.shape(0);
        if (B > INT32_MAX / 2)
            throw std::invalid_argument("x: too many rows (B must be below 2**30), got shape " + shape_str(shape_of(x)));
        if (h0) check_shape(*h0, {B, c.out_size()}, "h");
        if (c0) {
            if (!lstm) throw std::invalid_argument("c: a GRU has no cell state");
            check_shape(*c0, {B, c.hidden_size}, "c");
        }
        FloatArray h_n = new_floats({B, c.out_size()});
        std::optional<FloatArray> c_n;
        if (lstm) c_n = new_floats({B, c.hidden_size});
        ForwardCall call;
        call.x = x.data();
        call.T = 1;
        call.B = static_cast<int>(B);
        call.h0 = h0 ? h0->data() : nullptr;
        call.c0 = c0 ? c0->data() : nullptr;
        call.y = data_of(h_n);  // one step of one layer: y is h_n (same values)
        call.h_n = data_of(h_n);
        call.c_n = c_n ? data_of(*c_n) : nullptr;
        call.num_threads = num_threads;
        run(net_, call);
        return {std::move(h_n), std::move(c_n)};
    }

    PyNetwork(const NetworkConfig& config, const py::list& weights) : net_(config, unpack(weights, config)) {
        keep_.clear();  // packed: the PyTorch-layout arrays are no longer needed
    }

    // The ONNX options: {"reverse": bool, "clip": float, "input_forget": bool,
    // "peepholes": bool, "activations": [[(kind, alpha, beta) x 3] per direction]} (kinds
    // are ActKind's numbers; Python normalises names and alpha/beta); and "precision":
    // "fp32", "bf16" or "int8".
    static void apply_options(NetworkConfig& c, const py::dict& o) {
        for (const auto& item : o) {
            const std::string k = item.first.cast<std::string>();
            const py::handle v = item.second;
            if (k == "reverse") {
                c.reverse = v.cast<bool>();
            } else if (k == "clip") {
                c.clip = v.cast<float>();
                if (!(c.clip >= 0.0f) || std::isinf(c.clip))
                    throw std::invalid_argument("clip: expected a finite value >= 0 (0: no clipping), got " +
                                                std::to_string(c.clip));
            } else if (k == "input_forget") {
                c.input_forget = v.cast<bool>();
            } else if (k == "peepholes") {
                c.peepholes = v.cast<bool>();
            } else if (k == "precision") {
                const std::string p = v.cast<std::string>();
                if (p != "fp32" && p != "bf16" && p != "int8")
                    throw std::invalid_argument("precision: expected 'fp32', 'bf16' or 'int8', got '" + p + "'");
                c.precision = p == "bf16" ? Precision::bf16 : p == "int8" ? Precision::int8 : Precision::fp32;
            } else if (k == "activations") {
                const py::sequence dirs = v.cast<py::sequence>();
                if (py::len(dirs) != static_cast<size_t>(c.directions()))
                    throw std::invalid_argument("activations: expected one list per direction");
                for (size_t d = 0; d < py::len(dirs); ++d) {
                    const py::sequence slots = dirs[d].cast<py::sequence>();
                    if (py::len(slots) != 3) throw std::invalid_argument("activations: expected 3 slots (f, g, h)");
                    for (size_t j = 0; j < 3; ++j) {
                        const py::tuple t = slots[j].cast<py::tuple>();
                        if (t.size() != 3) throw std::invalid_argument("activations: expected (kind, alpha, beta)");
                        const int kind = t[0].cast<int>();
                        if (kind < 0 || kind > static_cast<int>(ActKind::softplus))
                            throw std::invalid_argument("activations: unknown kind " + std::to_string(kind));
                        c.activations[d][j] = Activation{static_cast<ActKind>(kind), t[1].cast<float>(), t[2].cast<float>()};
                    }
                }
            } else {
                throw std::invalid_argument("options: unknown key '" + k + "'");
            }
        }
    }

    static NetworkConfig make_config(const std::string& kind, int input_size, int hidden_size,
                                     int num_layers, bool bidirectional, int proj_size,
                                     bool linear_before_reset, const py::dict& options) {
        NetworkConfig c;
        if (kind == "lstm") {
            c.cell = CellType::lstm;
        } else if (kind == "gru") {
            c.cell = CellType::gru;
        } else {
            throw std::invalid_argument("kind: expected 'lstm' or 'gru', got '" + kind + "'");
        }
        c.input_size = input_size;
        c.hidden_size = hidden_size;
        c.num_layers = num_layers;
        c.bidirectional = bidirectional;
        c.proj_size = proj_size;
        c.linear_before_reset = linear_before_reset;
        if (input_size <= 0 || hidden_size <= 0 || num_layers <= 0)
            throw std::invalid_argument("input_size, hidden_size and num_layers must be positive");
        apply_options(c, options);
        return c;
    }

    // Checks each (w_ih, w_hh, b_ih, b_hh, w_hr) tuple against the configuration and
    // returns raw pointers; the converted arrays are kept alive in keep_ until packed.
    std::vector<DirectionWeights> unpack(const py::list& weights, const NetworkConfig& c) {
        const int D = c.directions(), G = c.gates(), H = c.hidden_size;
        if (static_cast<int>(py::len(weights)) != c.num_layers * D)
            throw std::invalid_argument("weights: expected " + std::to_string(c.num_layers * D) +
                                        " entries (num_layers * directions), got " +
                                        std::to_string(py::len(weights)));
        std::vector<DirectionWeights> out;
        for (int l = 0; l < c.num_layers; ++l) {
            for (int d = 0; d < D; ++d) {
                const py::tuple t = weights[static_cast<size_t>(l * D + d)].cast<py::tuple>();
                if (t.size() != 6) throw std::invalid_argument("weights: expected 6-tuples");
                const auto get = [&](int i, const char* name, std::vector<py::ssize_t> shape,
                                     bool required) -> const float* {
                    if (t[i].is_none()) {
                        if (required) throw std::invalid_argument("missing " + key(name, l, d));
                        return nullptr;
                    }
                    FloatArray a = FloatArray::ensure(t[i]);
                    if (!a) throw std::invalid_argument(key(name, l, d) + ": expected a float array");
                    check_shape(a, shape, key(name, l, d));
                    keep_.push_back(a);
                    return a.data();
                };
                DirectionWeights w;
                w.w_ih = get(0, "weight_ih", {G * H, c.layer_input_size(l)}, true);
                w.w_hh = get(1, "weight_hh", {G * H, c.out_size()}, true);
                w.b_ih = get(2, "bias_ih", {G * H}, false);
                w.b_hh = get(3, "bias_hh", {G * H}, false);
                w.w_hr = get(4, "weight_hr", {c.proj_size, H}, c.proj_size > 0);
                w.p = get(5, "peephole", {3 * H}, c.peepholes);
                out.push_back(w);
            }
        }
        return out;
    }

    std::vector<FloatArray> keep_;
    Network net_;
};

// Applies an activation kernel of the selected ISA elementwise (for accuracy tests).
FloatArray activation(const FloatArray& x, void (*KernelTable::*fn)(const float*, float*, ptrdiff_t) noexcept) {
    const KernelTable& k = active_kernels();
    FloatArray y(shape_of(x));
    const float* in = x.data();
    float* out = y.mutable_data();
    const ptrdiff_t n = x.size();
    {
        py::gil_scoped_release release;
        (k.*fn)(in, out, n);
    }
    return y;
}

// ---- the per-step calls without pybind11's dispatcher ----------------------------------
//
// A cell's step, a layer's call and a stream's step run once per timestep in a serving
// loop. pybind11's dispatcher costs about 0.2 µs a call (vectors of arguments, a caster
// for each), a sixth of a small model's whole step. These three are plain METH_FASTCALL
// methods instead: positional arguments, taken as they come.

// f(net) for the PyNetwork behind self, with C++ exceptions translated as pybind11 does.
template <class F>
PyObject* on_network(PyObject* self, Py_ssize_t nargs, Py_ssize_t expected, const char* name, const F& f) noexcept {
    if (nargs != expected) {
        PyErr_Format(PyExc_TypeError, "Network.%s: expected %zd positional arguments, got %zd", name, expected, nargs);
        return nullptr;
    }
    try {
        // self is a Network (the method descriptor checks that), but maybe one made by
        // __new__ alone, whose PyNetwork was never constructed.
        const py::detail::value_and_holder vh = reinterpret_cast<py::detail::instance*>(self)->get_value_and_holder();
        if (!vh.holder_constructed()) throw py::type_error("Network: not initialised (its __init__ never ran)");
        return f(*vh.value_ptr<PyNetwork>()).release().ptr();
    } catch (...) {
        py::detail::try_translate_exceptions();
        return nullptr;
    }
}

int int_argument(PyObject* a, const char* name) {
    if (!PyIndex_Check(a)) throw py::type_error(std::string(name) + ": expected an int");
    const long long v = PyLong_AsLongLong(a);  // through __index__
    if (v == -1 && PyErr_Occurred()) throw py::error_already_set();
    if (v < INT32_MIN || v > INT32_MAX) throw py::value_error(std::string(name) + ": out of range");
    return static_cast<int>(v);
}

bool bool_argument(PyObject* a, const char* name) {
    if (a != Py_True && a != Py_False) throw py::type_error(std::string(name) + ": expected a bool");
    return a == Py_True;
}

PyObject* fast_call(PyObject* self, PyObject* const* args, Py_ssize_t nargs) noexcept {
    return on_network(self, nargs, 4, "call", [&](const PyNetwork& net) {
        return net.call(args[0], args[1], bool_argument(args[2], "batch_first"), int_argument(args[3], "num_threads"));
    });
}

PyObject* fast_cell(PyObject* self, PyObject* const* args, Py_ssize_t nargs) noexcept {
    return on_network(self, nargs, 3, "cell", [&](const PyNetwork& net) {
        return net.cell(args[0], args[1], int_argument(args[2], "num_threads"));
    });
}

PyObject* fast_advance(PyObject* self, PyObject* const* args, Py_ssize_t nargs) noexcept {
    return on_network(self, nargs, 5, "advance", [&](const PyNetwork& net) -> py::object {
        return net.advance(to_floats(args[0]), args[1], args[2], bool_argument(args[3], "batch_first"),
                           int_argument(args[4], "num_threads"));
    });
}

PyMethodDef kFastMethods[] = {
    {"call", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(fast_call)), METH_FASTCALL,
     "call($self, x, state, batch_first, num_threads, /)\n--\n\n"
     "A layer's call for arguments that need no conversion: (y, (h_n, c_n)) or (y, h_n), else None."},
    {"cell", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(fast_cell)), METH_FASTCALL,
     "cell($self, x, state, num_threads, /)\n--\n\n"
     "A cell's step for arguments that need no conversion: (h, c) or h, else None."},
    {"advance", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(fast_advance)), METH_FASTCALL,
     "advance($self, x, h, c, batch_first, num_threads, /)\n--\n\n"
     "Streaming: run x from the states h (and c), updated in place; returns y."},
    {nullptr, nullptr, 0, nullptr},
};

}  // namespace

PYBIND11_MODULE(_core, m) {
    m.doc() = "gatedrnn's compiled core: fused LSTM/GRU kernels with runtime ISA dispatch.";
    m.attr("__version__") = GATEDRNN_VERSION;
#if defined(GATEDRNN_EMULATE_AVX512)
    m.attr("emulated_avx512") = true;  // a testing build: the avx512 kernels over emulated intrinsics
#else
    m.attr("emulated_avx512") = false;
#endif

    m.def("cpu_features", [] {
        const CpuFeatures& f = gatedrnn::cpu_features();
        py::dict d;
        d["sse2"] = f.sse2;
        d["avx"] = f.avx;
        d["fma"] = f.fma;
        d["f16c"] = f.f16c;
        d["avx2"] = f.avx2;
        d["avx512f"] = f.avx512f;
        d["avx512cd"] = f.avx512cd;
        d["avx512bw"] = f.avx512bw;
        d["avx512dq"] = f.avx512dq;
        d["avx512vl"] = f.avx512vl;
        d["avx512_bf16"] = f.avx512_bf16;
        d["avx512_vnni"] = f.avx512_vnni;
        d["os_avx"] = f.os_avx;
        d["os_avx512"] = f.os_avx512;
        return d;
    }, "CPU features detected by cpuid/xgetbv, as {name: bool}.");
    m.def("set_default_threads", [](int n) {
        if (n < 1) throw std::invalid_argument("n: expected >= 1, got " + std::to_string(n));
        default_threads.store(n, std::memory_order_relaxed);
    }, py::arg("n"), "The thread count of calls made with num_threads=0 (gatedrnn.set_num_threads sets it).");
    m.def("compiled_isas", &gatedrnn::compiled_isas, "ISAs built into this module, best first.");
    m.def("available_isas", &gatedrnn::available_isas, "ISAs built and supported by this CPU, best first.");
    m.def("selected_isa", &gatedrnn::selected_isa, "The ISA whose kernels run (GATEDRNN_ISA or the best available).");
    m.def("set_isa", &gatedrnn::set_isa, py::arg("name"), "Select the kernels of an available ISA.");
    m.def("sigmoid", [](const FloatArray& x) { return activation(x, &KernelTable::sigmoid_f32); },
          py::arg("x"), "Elementwise sigmoid with the selected ISA's kernel (float32).");
    m.def("tanh", [](const FloatArray& x) { return activation(x, &KernelTable::tanh_f32); },
          py::arg("x"), "Elementwise tanh with the selected ISA's kernel (float32).");

    m.def("to_bf16", [](const FloatArray& x) {
        const KernelTable& k = gatedrnn::active_kernels();
        const ptrdiff_t n = x.size();
        py::array_t<uint16_t> out(n);
        std::vector<float> pairs(static_cast<size_t>(n + 1) / 2);
        {
            py::gil_scoped_release release;
            k.to_bf16(x.data(), pairs.data(), n);
        }
        std::memcpy(out.mutable_data(), pairs.data(), static_cast<size_t>(n) * sizeof(uint16_t));
        return out;
    }, py::arg("x"), "x (float32, flattened) rounded to bfloat16 bits (uint16) by the selected ISA's kernel.");
    m.def("bf16_method", [] { return std::string(gatedrnn::active_kernels().bf16_method); },
          "How the selected kernels multiply bf16: 'vdpbf16ps' or 'widened to fp32'.");
    m.def("int8_method", [] { return std::string(gatedrnn::active_kernels().int8_method); },
          "How the selected kernels multiply int8: 'vpdpbusd', 'vpmaddubsw + vpmaddwd' or portable int32 sums.");
    m.def("quantize_u8", [](const FloatArray& x) {
        const KernelTable& k = gatedrnn::active_kernels();
        const ptrdiff_t n = x.size();
        py::array_t<uint8_t> out(n);
        std::vector<float> quads(static_cast<size_t>(n + 3) / 4);
        float scale;
        {
            py::gil_scoped_release release;
            scale = k.quantize_u8(x.data(), quads.data(), n);
        }
        std::memcpy(out.mutable_data(), quads.data(), static_cast<size_t>(n));
        return py::make_tuple(out, scale);
    }, py::arg("x"), "x (float32, flattened) quantised as int8 operands are by the selected ISA's kernel: "
                      "(u8 = round(x / s) + 128, s = max|x| / 127).");

    py::class_<PyNetwork> network(m, "Network", "A packed stack of LSTM or GRU layers (see gatedrnn.LSTM / GRU).");
    network
        .def(py::init<const std::string&, int, int, int, bool, int, bool, const py::list&, const py::dict&>(),
             py::arg("kind"), py::arg("input_size"), py::arg("hidden_size"), py::arg("num_layers"),
             py::arg("bidirectional"), py::arg("proj_size"), py::arg("linear_before_reset"),
             py::arg("weights"), py::arg("options") = py::dict())
        .def("forward", &PyNetwork::forward, py::arg("x"), py::arg("h0") = py::none(),
             py::arg("c0") = py::none(), py::arg("lengths") = py::none(), py::arg("batch_first") = false,
             py::arg("num_threads") = 1,
             "Run the stack: returns (y, h_n, c_n or None).")
        .def("step", &PyNetwork::step, py::arg("x"), py::arg("h0") = py::none(), py::arg("c0") = py::none(),
             py::arg("num_threads") = 1, "One step of a one-layer network (cells): returns (h, c or None).");
    // call, cell and advance: METH_FASTCALL methods (see kFastMethods).
    for (PyMethodDef* d = kFastMethods; d->ml_name != nullptr; ++d) {
        PyObject* method = PyDescr_NewMethod(reinterpret_cast<PyTypeObject*>(network.ptr()), d);
        if (method == nullptr) throw py::error_already_set();
        network.attr(d->ml_name) = py::reinterpret_steal<py::object>(method);
    }
}
