// The fused LSTM step: one sweep over h_{t-1} and the packed W_hh accumulates the four
// gates of a group of hidden units in registers, starting from the projected input
// (biases folded in); the epilogue applies the activations and updates c and h in place.
// No gate value ever goes to memory.
// Included inside namespace gatedrnn::<isa> (see README.md): no guard, no includes.
//
//     i = sigmoid(a_i)  f = sigmoid(a_f)  g = tanh(a_g)  o = sigmoid(a_o)
//     c = f * c + i * g
//     h = o * tanh(c)          -> h_next and y   (or m -> scratch when proj_size > 0)
//
// With CellOptions (ONNX), peepholes, clip, input_forget and any activation (kernels.h).

template <bool kOptions, Precision P>
inline void lstm_step(const StepArgs& s) {
    const StepRows& rows = s.rows;
    const int H = s.w.N;
    const CellOptions* opt = s.options;
    const auto a = [&](int i) GATEDRNN_INLINE { return P == Precision::fp32 ? rows.h_prev[i] : rows.op_prev[i]; };
    const auto init = [&](int i, int u, V* acc) GATEDRNN_INLINE {
        for (int g = 0; g < 4; ++g) acc[g] = sum_start<P>(s.w, u, g, load(rows.gx[i] + gate_offset(u, g, 4)));
    };
    const auto epi = [&](int i, int u, const V* sums) GATEDRNN_INLINE {
        const int at = u * kLanes;
        V acc[4];
        for (int g = 0; g < 4; ++g)
            acc[g] = pre_activation<P>(s.w, u, g, sums[g], P == Precision::int8 ? rows.op_scale[i] : 0.0f,
                                       load(rows.gx[i] + gate_offset(u, g, 4)));
        float* c = rows.c[i] + at;
        V c_new, h;
        if constexpr (!kOptions) {
            const V in = sigmoid(acc[0]);
            const V forget = sigmoid(acc[1]);
            const V cand = tanh(acc[2]);
            const V out = sigmoid(acc[3]);
            c_new = fmadd(forget, load(c), mul(in, cand));
            h = mul(out, tanh(c_new));
        } else {
            const float lim = opt->clip;
            const V c_prev = load(c);
            V pre_i = acc[0], pre_f = acc[1], pre_o = acc[3];
            const float* p = opt->peepholes;
            if (p) {
                pre_i = fmadd(load(p + gate_offset(u, 0, 3)), c_prev, pre_i);
                pre_f = fmadd(load(p + gate_offset(u, 1, 3)), c_prev, pre_f);
            }
            const V in = activate(opt->f, clamp(pre_i, lim));
            const V forget = opt->input_forget ? sub(broadcast(1.0f), in) : activate(opt->f, clamp(pre_f, lim));
            const V cand = activate(opt->g, clamp(acc[2], lim));
            c_new = fmadd(forget, c_prev, mul(in, cand));
            if (p) pre_o = fmadd(load(p + gate_offset(u, 2, 3)), c_new, pre_o);
            const V out = activate(opt->f, clamp(pre_o, lim));
            h = mul(out, activate(opt->h, c_new));  // ONNX Runtime does not clip c here
        }
        store(c, c_new);
        if (s.write_m) {
            store(rows.scratch[i] + at, h);
            store_operand<P>(rows.op_scratch[i], at, h);
        } else {
            store(rows.h_next[i] + at, h);
            store_operand<P>(rows.op_next[i], at, h);
            store_valid(rows.y[i] + at, h, H - at);
        }
    };
    step_loop<4, P != Precision::int8, P>(s, a, init, epi);  // int8 never folds (kernels.h)
}

// LSTM projection (proj_size > 0): h = W_hr m, with m = o * tanh(c) from the step above.
template <Precision P>
inline void lstm_proj(const StepArgs& s) {
    const StepRows& rows = s.rows;
    const int N = s.w.N;  // proj_size
    const auto a = [&](int i) GATEDRNN_INLINE {
        return static_cast<const float*>(P == Precision::fp32 ? rows.scratch[i] : rows.op_scratch[i]);
    };
    const auto init = [&](int, int u, V* acc) GATEDRNN_INLINE { acc[0] = sum_start<P>(s.w, u, 0, zero()); };
    const auto epi = [&](int i, int u, const V* sums) GATEDRNN_INLINE {
        const int at = u * kLanes;
        const V h = pre_activation<P>(s.w, u, 0, sums[0], P == Precision::int8 ? rows.op_scale[i] : 0.0f, zero());
        store(rows.h_next[i] + at, h);
        store_operand<P>(rows.op_next[i], at, h);
        store_valid(rows.y[i] + at, h, N - at);
    };
    step_loop<1, false, P>(s, a, init, epi);
}
