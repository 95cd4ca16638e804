// The fused LSTM step: one sweep over h_{t-1} and the packed W_hh accumulates the four
// gates of a block of 16 hidden units in registers, starting from the projected input
// (biases folded in); the epilogue applies the activations and updates c and h in place.
// No gate value ever goes to memory.
// Included inside namespace gatedrnn::<isa> (see README.md): no guard, no includes.
//
//     i = sigmoid(a_i)  f = sigmoid(a_f)  g = tanh(a_g)  o = sigmoid(a_o)
//     c = f * c + i * g
//     h = o * tanh(c)          -> h_next and y   (or m -> scratch when proj_size > 0)

inline void lstm_step_f32(const LstmStepArgs& s) {
    const StepRows& rows = s.rows;
    const int H = s.w_hh.N;
    const auto a = [&](int i) { return rows.h_prev[i]; };
    const auto init = [&](int i, int b, V* acc) {
        const float* gx = rows.gx[i] + b * 4 * kBlock;
        for (int g = 0; g < 4; ++g) acc[g] = load(gx + g * kBlock);
    };
    const auto epi = [&](int i, int b, const V* acc) {
        const V in = sigmoid(acc[0]);
        const V forget = sigmoid(acc[1]);
        const V cand = tanh(acc[2]);
        const V out = sigmoid(acc[3]);
        float* c = rows.c[i] + b * kBlock;
        const V c_new = fmadd(forget, load(c), mul(in, cand));
        store(c, c_new);
        const V h = mul(out, tanh(c_new));
        if (s.write_m) {
            store(rows.scratch[i] + b * kBlock, h);
        } else {
            store(rows.h_next[i] + b * kBlock, h);
            store_valid(rows.y[i] + b * kBlock, h, H - b * kBlock);
        }
    };
    tile_loop<4>(rows.n, s.blk_begin, s.blk_end, s.w_hh, a, init, epi);
}

// LSTM projection (proj_size > 0): h = W_hr m, with m = o * tanh(c) from the step above.
inline void lstm_proj_f32(const ProjArgs& s) {
    const StepRows& rows = s.rows;
    const int P = s.w_hr.N;
    const auto a = [&](int i) { return static_cast<const float*>(rows.scratch[i]); };
    const auto init = [&](int, int, V* acc) { acc[0] = zero(); };
    const auto epi = [&](int i, int b, const V* acc) {
        store(rows.h_next[i] + b * kBlock, acc[0]);
        store_valid(rows.y[i] + b * kBlock, acc[0], P - b * kBlock);
    };
    tile_loop<1>(rows.n, s.blk_begin, s.blk_end, s.w_hr, a, init, epi);
}
