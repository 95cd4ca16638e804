// The kernel interface: what one timestep (or the input projection) asks of an ISA.
//
// Every kernel reads weights packed by pack.cpp into gate-interleaved panels:
//
//     panel[b][k][g][l] = W[(g0 + g) * N + 16 * b + l][k]      (0 past N)
//
// b: block of kBlock = 16 output units, k: input index, g: gate, l: lane. One sweep over k
// feeds all G gates of a block; a block's G x 16 accumulators live in registers (one zmm
// per gate on AVX-512, two ymm on AVX2). The same bytes serve every ISA.
//
// Kernels are plain functions over raw pointers: they never allocate, throw or fail.
// Each output is one chain of multiply-adds in k order starting from its start value
// (bias or projected input), whatever the tiling, so results do not depend on the batch
// size, a row's position in the batch or, later, the thread split.
#pragma once

#include <cstddef>
#include <cstdint>

namespace gatedrnn {

inline constexpr int kBlock = 16;  // output units per panel block (= floats per zmm)

inline constexpr int num_blocks(int n) { return (n + kBlock - 1) / kBlock; }

// A packed weight matrix: G gates of N outputs each, K inputs.
struct PanelView {
    const float* data = nullptr;  // nblocks * K * G * kBlock floats, 64-byte aligned
    int K = 0;                    // inputs (the length of the dot products)
    int G = 0;                    // gates interleaved per block
    int N = 0;                    // outputs per gate (unpadded)
    int nblocks() const { return num_blocks(N); }
    const float* block(int b) const { return data + static_cast<ptrdiff_t>(b) * K * G * kBlock; }
};

// Input projection of a whole sequence: for rows m in [m_begin, m_end),
//     C[m][b][g][:] = bias[b][g][:] + sum_k A[m][k] * panel[b][k][g][:]
// Row m of A is the vector at a + (m / rows_per_t) * a_st + (m % rows_per_t) * a_sb,
// so time-major, batch-first and strided sequences all feed it without a copy.
struct GemmArgs {
    const float* a = nullptr;
    ptrdiff_t a_st = 0, a_sb = 0;
    int rows_per_t = 1;
    int m_begin = 0, m_end = 0;
    PanelView w;
    int blk_begin = 0, blk_end = 0;
    const float* bias = nullptr;  // [nblocks][G][16] or null for zero
    float* c = nullptr;           // row m at c + m * ldc, block b at + b * G * 16
    ptrdiff_t ldc = 0;
};

// One recurrent step over n rows. Row i's vectors are reached through per-row pointers,
// so a step can skip finished sequences (lengths) and run each row at its own time index
// (the reverse direction over a row's valid prefix). Internal buffers (h, c, gx, the
// scratch rows) are padded to whole blocks; y rows are the caller's, written for the
// first `n_out` units only.
struct StepRows {
    int n = 0;
    const float* const* h_prev = nullptr;  // K floats: the state the recurrent product reads
    const float* const* gx = nullptr;      // projected input of this step, [nblocks][G][16]
    float* const* h_next = nullptr;        // new state (unused by LSTM with projection)
    float* const* y = nullptr;             // output rows (unused by LSTM with projection)
    float* const* c = nullptr;             // LSTM cell state, updated in place
    float* const* scratch = nullptr;       // LSTM+proj: m = o*tanh(c); GRU lbr=0: r*h_prev
    float* const* scratch2 = nullptr;      // GRU lbr=0: z
};

// LSTM: accumulators start from gx (biases folded in), gates i f g o.
//   c = f*c + i*g;  h = o*tanh(c) -> h_next and y, or -> scratch when projecting.
struct LstmStepArgs {
    StepRows rows;
    PanelView w_hh;  // G = 4 over H, K = H (or P with projection)
    int blk_begin = 0, blk_end = 0;
    bool write_m = false;  // projection follows: write m to scratch instead of h/y
};

// LSTM projection h = W_hr m, m from scratch; writes h_next and y.
struct ProjArgs {
    StepRows rows;
    PanelView w_hr;  // G = 1 over P, K = H
    int blk_begin = 0, blk_end = 0;
};

// GRU, linear_before_reset = true: r, z start from gx, the n accumulator from b_hn;
//   n = tanh(gx_n + r * acc_n);  h = (1 - z) * n + z * h_prev.
struct GruStepArgs {
    StepRows rows;
    PanelView w_hh;           // G = 3 over H, K = H
    const float* b_hn = nullptr;  // [nblocks][16]
    int blk_begin = 0, blk_end = 0;
};

// GRU, linear_before_reset = false, two phases per step (r is needed before W_hn):
//   gates: r, z from W_hr/W_hz; writes r*h_prev -> scratch, z -> scratch2;
//   candidate: n = tanh(gx_n + W_hn (r*h_prev)) (b_in + b_hn folded into gx_n);
//              h = (1 - z) * n + z * h_prev.
struct GruGatesArgs {
    StepRows rows;
    PanelView w_rz;  // G = 2 over H, K = H
    int blk_begin = 0, blk_end = 0;
};
struct GruCandArgs {
    StepRows rows;   // h_prev rows are read for the update; scratch rows are the product's input
    PanelView w_n;   // G = 1 over H, K = H
    int blk_begin = 0, blk_end = 0;
};

// The kernels of one ISA, chosen together (dispatch.cpp picks one table per process).
struct KernelTable {
    const char* name;
    void (*gemm_f32)(const GemmArgs&) noexcept;
    void (*lstm_step_f32)(const LstmStepArgs&) noexcept;
    void (*lstm_proj_f32)(const ProjArgs&) noexcept;
    void (*gru_step_f32)(const GruStepArgs&) noexcept;
    void (*gru_gates_f32)(const GruGatesArgs&) noexcept;
    void (*gru_cand_f32)(const GruCandArgs&) noexcept;
    // Elementwise activations, exposed for accuracy tests.
    void (*sigmoid_f32)(const float* x, float* y, ptrdiff_t n) noexcept;
    void (*tanh_f32)(const float* x, float* y, ptrdiff_t n) noexcept;
};

namespace scalar { extern const KernelTable kernels; }
#if defined(GATEDRNN_HAVE_X86_KERNELS)
namespace avx2 { extern const KernelTable kernels; }
namespace avx512 { extern const KernelTable kernels; }
#endif

}  // namespace gatedrnn
