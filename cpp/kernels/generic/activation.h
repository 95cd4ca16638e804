// Vectorised sigmoid and tanh, one algorithm for every ISA.
// Included inside namespace gatedrnn::<isa> (see README.md): no guard, no includes.
//
// Both come from one core that splits e^z (z <= 0) as s * (1 + q), s = 2^n exact and
// q = e^t - 1 for the reduced argument |t| <= ln2/2. Keeping q apart gives e^z - 1
// without cancellation, which keeps tanh accurate near 0.
// Max abs error against float64 is a few 1e-8 (tests/test_isa.py checks <= 1e-6);
// sigmoid(-inf) = 0, sigmoid(+inf) = 1, tanh(+-inf) = +-1, tanh(+-0) = +-0, NaN -> NaN.

struct ExpParts {
    V s;  // 2^n
    V q;  // e^t - 1
};

GATEDRNN_INLINE inline ExpParts exp_parts(V z) {
    // Clamp so 2^n stays a normal float; the data is max's second operand so NaN survives.
    z = max(broadcast(-87.0f), z);
    // Adding 1.5 * 2^23 rounds z / ln2 to an integer n held in the low mantissa bits,
    // biased by 127 so that those bits shifted into the exponent field are 2^n.
    const V magic = broadcast(12582912.0f + 127.0f);
    const V nb = fmadd(z, broadcast(1.44269504088896341f), magic);
    const V n = sub(nb, magic);
    // t = z - n * ln2, with ln2 split so that n * ln2_hi is exact (Cody and Waite).
    V t = fmadd(n, broadcast(-0.693359375f), z);
    t = fmadd(n, broadcast(2.12194440e-4f), t);
    // e^t - 1 = t * (1 + t/2! + t^2/3! + ... + t^6/7!); the next term is below float epsilon.
    V p = broadcast(1.0f / 5040.0f);
    p = fmadd(p, t, broadcast(1.0f / 720.0f));
    p = fmadd(p, t, broadcast(1.0f / 120.0f));
    p = fmadd(p, t, broadcast(1.0f / 24.0f));
    p = fmadd(p, t, broadcast(1.0f / 6.0f));
    p = fmadd(p, t, broadcast(0.5f));
    p = fmadd(p, t, broadcast(1.0f));
    return {shift_bits_left_23(nb), mul(p, t)};
}

// sigmoid(x) = f(-|x|) for x < 0 and 1 - f(-|x|) otherwise, f(z) = e^z / (1 + e^z).
GATEDRNN_INLINE inline V sigmoid(V x) {
    const V z = neg_abs(x);
    const ExpParts e = exp_parts(z);
    V ez = fmadd(e.s, e.q, e.s);
    ez = zero_where_less(z, -87.0f, ez);  // true value < 2^-125 there; -inf gives exactly 0
    const V f = div(ez, add(broadcast(1.0f), ez));
    return select_negative(x, f, sub(broadcast(1.0f), f));
}

// tanh(|x|) = (1 - e^z) / (1 + e^z) = -(e^z - 1) / (2 + (e^z - 1)), z = -2|x|; sign of x.
GATEDRNN_INLINE inline V tanh(V x) {
    const V z = add(neg_abs(x), neg_abs(x));
    const ExpParts e = exp_parts(z);
    const V em1 = fmadd(e.s, e.q, sub(e.s, broadcast(1.0f)));
    const V r = div(sub(zero(), em1), add(broadcast(2.0f), em1));
    return with_sign_of(r, x);
}

// y[i] = f(x[i]) for i < n, full blocks then a masked tail.
template <class F>
inline void map_elementwise(const float* x, float* y, ptrdiff_t n, const F& f) {
    ptrdiff_t i = 0;
    for (; i + kLanes <= n; i += kLanes) store(y + i, f(load(x + i)));
    if (i < n) {
        const int rest = static_cast<int>(n - i);
        store_n(y + i, f(load_n(x + i, rest)), rest);
    }
}

// ---- the ONNX operators' activations ------------------------------------------------
//
// One lane of any activation, computed in double and rounded once. The ones that are not
// sigmoid or tanh run through here: slower, but exact to float rounding.
inline float activate_lane(const Activation& a, float xf) {
    const double x = xf, alpha = a.alpha, beta = a.beta;
    double y = x;
    switch (a.kind) {
        case ActKind::sigmoid: y = 1.0 / (1.0 + std::exp(-x)); break;
        case ActKind::tanh: y = std::tanh(x); break;
        case ActKind::relu: y = x > 0.0 ? x : 0.0; break;
        case ActKind::affine: y = alpha * x + beta; break;
        case ActKind::leaky_relu: y = x >= 0.0 ? x : alpha * x; break;
        case ActKind::thresholded_relu: y = x > alpha ? x : 0.0; break;
        case ActKind::scaled_tanh: y = alpha * std::tanh(beta * x); break;
        case ActKind::hard_sigmoid: y = std::min(1.0, std::max(0.0, alpha * x + beta)); break;
        case ActKind::elu: y = x >= 0.0 ? x : alpha * std::expm1(x); break;
        case ActKind::softsign: y = x / (1.0 + std::fabs(x)); break;
        case ActKind::softplus: y = x > 0.0 ? x + std::log1p(std::exp(-x)) : std::log1p(std::exp(x)); break;
    }
    if (std::isnan(x)) y = x;  // NaN in, NaN out, whatever the branch above chose
    return static_cast<float>(y);
}

inline V activate(const Activation& a, V x) {
    if (a.kind == ActKind::sigmoid) return sigmoid(x);
    if (a.kind == ActKind::tanh) return tanh(x);
    alignas(64) float lanes[kLanes];
    store(lanes, x);
    for (int l = 0; l < kLanes; ++l) lanes[l] = activate_lane(a, lanes[l]);
    return load(lanes);
}

// x clamped to [-limit, limit] when limit > 0 (ONNX clip); NaN stays NaN.
GATEDRNN_INLINE inline V clamp(V x, float limit) {
    if (!(limit > 0.0f)) return x;
    return min(broadcast(limit), max(broadcast(-limit), x));
}
