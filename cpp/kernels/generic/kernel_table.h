// Names this ISA's kernels <op>_<precision>__<isa> and fills its KernelTable.
// Included last inside namespace gatedrnn::<isa> by instantiate.h, which defines
// GATEDRNN_KERNEL(op) (op##__<isa>) and GATEDRNN_ISA_NAME ("<isa>").

void GATEDRNN_KERNEL(gemm_f32)(const GemmArgs& a) noexcept { gemm<false>(a); }
void GATEDRNN_KERNEL(gemm_bf16)(const GemmArgs& a) noexcept { gemm<true>(a); }
void GATEDRNN_KERNEL(lstm_step_f32)(const StepArgs& a) noexcept { lstm_step_f32(a); }
void GATEDRNN_KERNEL(lstm_proj_f32)(const StepArgs& a) noexcept { lstm_proj_f32(a); }
void GATEDRNN_KERNEL(gru_step_f32)(const StepArgs& a) noexcept { gru_step_f32(a); }
void GATEDRNN_KERNEL(gru_gates_f32)(const StepArgs& a) noexcept { gru_gates_f32(a); }
void GATEDRNN_KERNEL(gru_cand_f32)(const StepArgs& a) noexcept { gru_cand_f32(a); }
void GATEDRNN_KERNEL(lstm_step_bf16)(const StepArgs& a) noexcept { lstm_step_bf16(a); }
void GATEDRNN_KERNEL(lstm_proj_bf16)(const StepArgs& a) noexcept { lstm_proj_bf16(a); }
void GATEDRNN_KERNEL(gru_step_bf16)(const StepArgs& a) noexcept { gru_step_bf16(a); }
void GATEDRNN_KERNEL(gru_gates_bf16)(const StepArgs& a) noexcept { gru_gates_bf16(a); }
void GATEDRNN_KERNEL(gru_cand_bf16)(const StepArgs& a) noexcept { gru_cand_bf16(a); }
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
    {&GATEDRNN_KERNEL(gemm_f32), &GATEDRNN_KERNEL(lstm_step_f32), &GATEDRNN_KERNEL(lstm_proj_f32),
     &GATEDRNN_KERNEL(gru_step_f32), &GATEDRNN_KERNEL(gru_gates_f32), &GATEDRNN_KERNEL(gru_cand_f32)},
    {&GATEDRNN_KERNEL(gemm_bf16), &GATEDRNN_KERNEL(lstm_step_bf16), &GATEDRNN_KERNEL(lstm_proj_bf16),
     &GATEDRNN_KERNEL(gru_step_bf16), &GATEDRNN_KERNEL(gru_gates_bf16), &GATEDRNN_KERNEL(gru_cand_bf16)},
    kNativeBf16 ? "vdpbf16ps" : "widened to fp32",
    &GATEDRNN_KERNEL(to_bf16),
    &GATEDRNN_KERNEL(sigmoid_f32),
    &GATEDRNN_KERNEL(tanh_f32),
};
