// The fused GRU step, in both forms of the candidate.
// Included inside namespace gatedrnn::<isa> (see README.md): no guard, no includes.
//
//     r = sigmoid(a_r)  z = sigmoid(a_z)       (a_r, a_z start from the projected input)
//     linear_before_reset = true:   n = tanh(gx_n + r * (W_hn h + b_hn))
//     linear_before_reset = false:  n = tanh(gx_n + W_hn (r * h))     (b_hn folded into gx_n)
//     h' = (1 - z) * n + z * h  =  n + z * (h - n)
//
// With CellOptions (ONNX): clip and any activations in place of sigmoid and tanh.

inline V gru_update(V z, V n, V h_prev) { return fmadd(z, sub(h_prev, n), n); }

// The gate and candidate activations, with the ONNX options when given (kernels.h).
template <bool kOptions>
inline V gate(const CellOptions* opt, V pre) {
    if constexpr (kOptions) return activate(opt->f, clamp(pre, opt->clip));
    return sigmoid(pre);
}
template <bool kOptions>
inline V candidate(const CellOptions* opt, V pre) {
    if constexpr (kOptions) return activate(opt->g, clamp(pre, opt->clip));
    return tanh(pre);
}

// linear_before_reset = true: one sweep accumulates r, z and W_hn h (started from b_hn).
// With the input projection folded in (s.kx > 0: w = [W_ih | W_hh] over [x, h], gx the
// biases), the n sum first collects W_in x from b_in; where x ends it is set aside in the
// scratch row (the candidate's input part) and restarts from b_hn for W_hn h.
template <bool kOptions, Precision P>
inline void gru_step(const StepArgs& s) {
    const StepRows& rows = s.rows;
    const int H = s.w.N;
    const CellOptions* opt = s.options;
    const bool folded = s.kx > 0;
    const auto a = [&](int i) GATEDRNN_INLINE { return P == Precision::fp32 ? rows.h_prev[i] : rows.op_prev[i]; };
    const auto b_hn = [&](int u) GATEDRNN_INLINE { return s.b_hn ? load(s.b_hn + u * kLanes) : zero(); };
    const auto gx = [&](int i, int u, int g) GATEDRNN_INLINE { return load(rows.gx[i] + gate_offset(u, g, 3)); };
    const auto init = [&](int i, int u, V* acc) GATEDRNN_INLINE {
        acc[0] = sum_start<P>(s.w, u, 0, gx(i, u, 0));
        acc[1] = sum_start<P>(s.w, u, 1, gx(i, u, 1));
        acc[2] = sum_start<P>(s.w, u, 2, folded ? gx(i, u, 2) : b_hn(u));
    };
    const auto boundary = [&](int i, int u, V* acc) GATEDRNN_INLINE {  // folded (never in int8)
        store(rows.scratch[i] + u * kLanes, acc[2]);
        acc[2] = b_hn(u);
    };
    const auto epi = [&](int i, int u, const V* sums) GATEDRNN_INLINE {
        const int at = u * kLanes;
        const float a_scale = P == Precision::int8 ? rows.op_scale[i] : 0.0f;
        const V acc[3] = {pre_activation<P>(s.w, u, 0, sums[0], a_scale, gx(i, u, 0)),
                          pre_activation<P>(s.w, u, 1, sums[1], a_scale, gx(i, u, 1)),
                          pre_activation<P>(s.w, u, 2, sums[2], a_scale, b_hn(u))};
        const V r = gate<kOptions>(opt, acc[0]);
        const V z = gate<kOptions>(opt, acc[1]);
        const V gx_n = folded ? load(rows.scratch[i] + at) : load(rows.gx[i] + gate_offset(u, 2, 3));
        const V n = candidate<kOptions>(opt, fmadd(r, acc[2], gx_n));
        const V h = gru_update(z, n, load(rows.h_prev[i] + at));
        store(rows.h_next[i] + at, h);
        store_operand<P>(rows.op_next[i], at, h);
        store_valid(rows.y[i] + at, h, H - at);
    };
    step_loop<3, P != Precision::int8, P>(s, a, init, epi, boundary);  // int8 never folds (kernels.h)
}

// linear_before_reset = false, phase 1: r and z; writes r * h_prev and z for phase 2.
template <bool kOptions, Precision P>
inline void gru_gates(const StepArgs& s) {
    const StepRows& rows = s.rows;
    const CellOptions* opt = s.options;
    const auto a = [&](int i) GATEDRNN_INLINE { return P == Precision::fp32 ? rows.h_prev[i] : rows.op_prev[i]; };
    const auto gx = [&](int i, int u, int g) GATEDRNN_INLINE { return load(rows.gx[i] + gate_offset(u, g, 3)); };
    const auto init = [&](int i, int u, V* acc) GATEDRNN_INLINE {
        acc[0] = sum_start<P>(s.w, u, 0, gx(i, u, 0));
        acc[1] = sum_start<P>(s.w, u, 1, gx(i, u, 1));
    };
    const auto epi = [&](int i, int u, const V* sums) GATEDRNN_INLINE {
        const int at = u * kLanes;
        const float a_scale = P == Precision::int8 ? rows.op_scale[i] : 0.0f;
        const V acc[2] = {pre_activation<P>(s.w, u, 0, sums[0], a_scale, gx(i, u, 0)),
                          pre_activation<P>(s.w, u, 1, sums[1], a_scale, gx(i, u, 1))};
        const V r = gate<kOptions>(opt, acc[0]);
        const V z = gate<kOptions>(opt, acc[1]);
        const V rh = mul(r, load(rows.h_prev[i] + at));
        store(rows.scratch[i] + at, rh);
        store_operand<P>(rows.op_scratch[i], at, rh);
        store(rows.scratch2[i] + at, z);
    };
    step_loop<2, false, P>(s, a, init, epi);
}

// linear_before_reset = false, phase 2: the candidate from W_hn (r * h_prev), then h.
// Needs every group of r * h_prev, so it runs after phase 1 has finished all blocks.
template <bool kOptions, Precision P>
inline void gru_cand(const StepArgs& s) {
    const StepRows& rows = s.rows;
    const int H = s.w.N;
    const CellOptions* opt = s.options;
    const auto a = [&](int i) GATEDRNN_INLINE {
        return static_cast<const float*>(P == Precision::fp32 ? rows.scratch[i] : rows.op_scratch[i]);
    };
    const auto gx_n = [&](int i, int u) GATEDRNN_INLINE { return load(rows.gx[i] + gate_offset(u, 2, 3)); };
    const auto init = [&](int i, int u, V* acc) GATEDRNN_INLINE { acc[0] = sum_start<P>(s.w, u, 0, gx_n(i, u)); };
    const auto epi = [&](int i, int u, const V* sums) GATEDRNN_INLINE {
        const int at = u * kLanes;
        const V pre = pre_activation<P>(s.w, u, 0, sums[0], P == Precision::int8 ? rows.op_scale[i] : 0.0f, gx_n(i, u));
        const V n = candidate<kOptions>(opt, pre);
        const V z = load(rows.scratch2[i] + at);
        const V h = gru_update(z, n, load(rows.h_prev[i] + at));
        store(rows.h_next[i] + at, h);
        store_operand<P>(rows.op_next[i], at, h);
        store_valid(rows.y[i] + at, h, H - at);
    };
    step_loop<1, false, P>(s, a, init, epi);
}
