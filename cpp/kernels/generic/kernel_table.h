// Names this ISA's kernels <op>_<precision>__<isa> and fills its KernelTable.
// Included last inside namespace gatedrnn::<isa> by instantiate.h, which defines
// GATEDRNN_KERNEL(op) (op##__<isa>) and GATEDRNN_ISA_NAME ("<isa>").

// Each step kernel in each precision: <op>_<precision>__<isa>.
#define GATEDRNN_PRECISION_KERNELS(precision)                                                             \
    {&GATEDRNN_KERNEL(gemm_##precision), &GATEDRNN_KERNEL(lstm_step_##precision),                         \
     &GATEDRNN_KERNEL(lstm_proj_##precision), &GATEDRNN_KERNEL(gru_step_##precision),                     \
     &GATEDRNN_KERNEL(gru_gates_##precision), &GATEDRNN_KERNEL(gru_cand_##precision)}
#define GATEDRNN_STEP_KERNELS(precision, P)                                                                     \
    void GATEDRNN_KERNEL(gemm_##precision)(const GemmArgs& a) noexcept { gemm<P>(a); }                         \
    void GATEDRNN_KERNEL(lstm_step_##precision)(const StepArgs& a) noexcept { GATEDRNN_WITH_OPTIONS(lstm_step, P, a); } \
    void GATEDRNN_KERNEL(lstm_proj_##precision)(const StepArgs& a) noexcept { lstm_proj<P>(a); }               \
    void GATEDRNN_KERNEL(gru_step_##precision)(const StepArgs& a) noexcept { GATEDRNN_WITH_OPTIONS(gru_step, P, a); } \
    void GATEDRNN_KERNEL(gru_gates_##precision)(const StepArgs& a) noexcept { GATEDRNN_WITH_OPTIONS(gru_gates, P, a); } \
    void GATEDRNN_KERNEL(gru_cand_##precision)(const StepArgs& a) noexcept { GATEDRNN_WITH_OPTIONS(gru_cand, P, a); }
#if !defined(GATEDRNN_F32_KERNELS)  // else: an ISA that reuses another one's fp32 kernels
GATEDRNN_STEP_KERNELS(f32, Precision::fp32)
#define GATEDRNN_F32_KERNELS GATEDRNN_PRECISION_KERNELS(f32)
#endif
GATEDRNN_STEP_KERNELS(bf16, Precision::bf16)
GATEDRNN_STEP_KERNELS(int8, Precision::int8)
#undef GATEDRNN_STEP_KERNELS
#undef GATEDRNN_WITH_OPTIONS
void GATEDRNN_KERNEL(to_bf16)(const float* x, float* y, ptrdiff_t n) noexcept {
    ptrdiff_t i = 0;
    for (; i + kLanes <= n; i += kLanes) store_bf16(y + i / 2, load(x + i));
    if (i < n) {  // lanes past n read as zero: an odd n pairs its last value with zero
        const int rest = static_cast<int>(n - i);
        float pairs[kLanes / 2];
        store_bf16(pairs, load_n(x + i, rest));
        std::memcpy(y + i / 2, pairs, static_cast<size_t>(rest + 1) / 2 * sizeof(float));
    }
}
float GATEDRNN_KERNEL(quantize_u8)(const float* x, float* y, ptrdiff_t n) noexcept {
    // max |x| (a NaN or an infinity anywhere makes the row's scale NaN)
    V most = zero(), poison = zero();
    ptrdiff_t i = 0;
    const auto scan = [&](V v) {
        most = max(most, sub(zero(), neg_abs(v)));
        poison = add(poison, mul(v, zero()));  // 0, or NaN for a NaN or an infinity
    };
    for (; i + kLanes <= n; i += kLanes) scan(load(x + i));
    if (i < n) scan(load_n(x + i, static_cast<int>(n - i)));
    float lanes[kLanes], flags[kLanes];
    store(lanes, most);
    store(flags, poison);
    float m = 0.0f;
    bool bad = false;
    for (int l = 0; l < kLanes; ++l) {
        m = std::max(m, lanes[l]);
        bad = bad || flags[l] != 0.0f;
    }
    const ptrdiff_t words = (n + 3) / 4;
    // A row whose scale would not be a normal float (max|x| < 127 FLT_MIN) counts as zero.
    if (bad || !(m >= 127.0f * std::numeric_limits<float>::min())) {  // q = 0 (u8 = 128) everywhere
        const uint32_t zero_point = 0x80808080u;
        for (ptrdiff_t j = 0; j < words; ++j) std::memcpy(y + j, &zero_point, sizeof zero_point);
        return bad ? std::numeric_limits<float>::quiet_NaN() : 0.0f;
    }
    const float s = m / 127.0f;
    const V vs = broadcast(s);
    for (i = 0; i + kLanes <= n; i += kLanes) store_u8(y + i / 4, div(load(x + i), vs));
    if (i < n) {  // lanes past n read as zero: u8 128, the zero point
        const int rest = static_cast<int>(n - i);
        float quads[kLanes / 4];
        store_u8(quads, div(load_n(x + i, rest), vs));
        std::memcpy(y + i / 4, quads, static_cast<size_t>(rest + 3) / 4 * sizeof(float));
    }
    return s;
}
void GATEDRNN_KERNEL(sigmoid_f32)(const float* x, float* y, ptrdiff_t n) noexcept {
    map_elementwise(x, y, n, [](V v) { return sigmoid(v); });
}
void GATEDRNN_KERNEL(tanh_f32)(const float* x, float* y, ptrdiff_t n) noexcept {
    map_elementwise(x, y, n, [](V v) { return tanh(v); });
}

extern const KernelTable kernels;
const KernelTable kernels = {
    GATEDRNN_ISA_NAME,
    kLanes,
    GATEDRNN_F32_KERNELS,
    GATEDRNN_PRECISION_KERNELS(bf16),
    GATEDRNN_PRECISION_KERNELS(int8),
    kBf16Method,
    kInt8Method,
    &GATEDRNN_KERNEL(to_bf16),
    &GATEDRNN_KERNEL(quantize_u8),
    &GATEDRNN_KERNEL(sigmoid_f32),
    &GATEDRNN_KERNEL(tanh_f32),
};
#undef GATEDRNN_PRECISION_KERNELS
#undef GATEDRNN_F32_KERNELS
