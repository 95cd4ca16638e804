// Names this ISA's kernels <op>_f32__<isa> and fills its KernelTable.
// Included last inside namespace gatedrnn::<isa> by instantiate.h, which defines
// GATEDRNN_KERNEL(op) (op##__<isa>) and GATEDRNN_ISA_NAME ("<isa>").

void GATEDRNN_KERNEL(gemm_f32)(const GemmArgs& a) noexcept { gemm_f32(a); }
void GATEDRNN_KERNEL(lstm_step_f32)(const StepArgs& a) noexcept { lstm_step_f32(a); }
void GATEDRNN_KERNEL(lstm_proj_f32)(const StepArgs& a) noexcept { lstm_proj_f32(a); }
void GATEDRNN_KERNEL(gru_step_f32)(const StepArgs& a) noexcept { gru_step_f32(a); }
void GATEDRNN_KERNEL(gru_gates_f32)(const StepArgs& a) noexcept { gru_gates_f32(a); }
void GATEDRNN_KERNEL(gru_cand_f32)(const StepArgs& a) noexcept { gru_cand_f32(a); }
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
    &GATEDRNN_KERNEL(gemm_f32),
    &GATEDRNN_KERNEL(lstm_step_f32),
    &GATEDRNN_KERNEL(lstm_proj_f32),
    &GATEDRNN_KERNEL(gru_step_f32),
    &GATEDRNN_KERNEL(gru_gates_f32),
    &GATEDRNN_KERNEL(gru_cand_f32),
    &GATEDRNN_KERNEL(sigmoid_f32),
    &GATEDRNN_KERNEL(tanh_f32),
};
