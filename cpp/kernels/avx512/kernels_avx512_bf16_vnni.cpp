// The avx512 kernels again, compiled with AVX512_BF16 and AVX512_VNNI: their bf16 and int8
// products use vdpbf16ps and vpdpbusd. dispatch.cpp runs these in place of the avx512
// kernels on CPUs that have both. The fp32 kernels are the avx512 ones, not compiled twice.
#include "gatedrnn/kernels.h"

namespace gatedrnn::avx512 {
void gemm_f32__avx512(const GemmArgs&) noexcept;
void lstm_step_f32__avx512(const StepArgs&) noexcept;
void lstm_proj_f32__avx512(const StepArgs&) noexcept;
void gru_step_f32__avx512(const StepArgs&) noexcept;
void gru_gates_f32__avx512(const StepArgs&) noexcept;
void gru_cand_f32__avx512(const StepArgs&) noexcept;
}  // namespace gatedrnn::avx512

#define GATEDRNN_F32_KERNELS                                                                           \
    {&avx512::gemm_f32__avx512, &avx512::lstm_step_f32__avx512, &avx512::lstm_proj_f32__avx512,         \
     &avx512::gru_step_f32__avx512, &avx512::gru_gates_f32__avx512, &avx512::gru_cand_f32__avx512}

#define GATEDRNN_AVX512_DOT 1  // vec_avx512.h: the namespace and the dot instructions
#include "vec_avx512.h"
#define GATEDRNN_ISA avx512_bf16_vnni
#include "../generic/instantiate.h"
