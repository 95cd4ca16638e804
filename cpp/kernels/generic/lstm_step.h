// The fused LSTM step: one sweep over h_{t-1} and the packed W_hh accumulates the four
// gates of a group of hidden units in registers, starting from the projected input
// (biases folded in); the epilogue applies the activations and updates c and h in place.
// No gate value ever goes to memory.
// Included inside namespace gatedrnn::<isa> (see README.md): no guard, no includes.
//
//     i = sigmoid(a_i)  f = sigmoid(a_f)  g = tanh(a_g)  o = sigmoid(a_o)
//     c = f * c + i * g
//     h = o * tanh(c)          -> h_next and y   (or m -> scratch when proj_size > 0)

inline void lstm_step_f32(const StepArgs& s) {
    const StepRows& rows = s.rows;
    const int H = s.w.N;
    const auto a = [&](int i) { return rows.h_prev[i]; };
    const auto init = [&](int i, int u, V* acc) {
        for (int g = 0; g < 4; ++g) acc[g] = load(rows.gx[i] + gate_offset(u, g, 4));
    };
    const auto epi = [&](int i, int u, const V* acc) {
        const int at = u * kLanes;
        const V in = sigmoid(acc[0]);
        const V forget = sigmoid(acc[1]);
        const V cand = tanh(acc[2]);
        const V out = sigmoid(acc[3]);
        float* c = rows.c[i] + at;
        const V c_new = fmadd(forget, load(c), mul(in, cand));
        store(c, c_new);
        const V h = mul(out, tanh(c_new));
        if (s.write_m) {
            store(rows.scratch[i] + at, h);
        } else {
            store(rows.h_next[i] + at, h);
            store_valid(rows.y[i] + at, h, H - at);
        }
    };
    step_loop<4>(rows.n, s.blk_begin, s.blk_end, s.w, a, init, epi);
}

// LSTM projection (proj_size > 0): h = W_hr m, with m = o * tanh(c) from the step above.
inline void lstm_proj_f32(const StepArgs& s) {
    const StepRows& rows = s.rows;
    const int P = s.w.N;
    const auto a = [&](int i) { return static_cast<const float*>(rows.scratch[i]); };
    const auto init = [&](int, int, V* acc) { acc[0] = zero(); };
    const auto epi = [&](int i, int u, const V* acc) {
        const int at = u * kLanes;
        store(rows.h_next[i] + at, acc[0]);
        store_valid(rows.y[i] + at, acc[0], P - at);
    };
    step_loop<1>(rows.n, s.blk_begin, s.blk_end, s.w, a, init, epi);
}
