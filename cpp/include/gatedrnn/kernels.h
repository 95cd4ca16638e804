// The kernel interface: what one timestep (or the input projection) asks of an ISA.
//
// Every step kernel reads weights packed by pack.cpp into gate-interleaved panels, cut
// into sub-blocks as wide as the kernel's vectors (`lanes`: 16 on AVX-512, 8 on AVX2 and
// the portable kernels):
//
//     panel[b][s][k][g][l] = W[(g0 + g) * N + 16 * b + lanes * s + l][k]      (0 past N)
//
// b: block of kBlock = 16 output units, s: sub-block of `lanes` units, k: input index,
// g: gate, l: lane. One sweep over k feeds all G gates of a sub-block; its G accumulators
// per row live in registers, and its k-rows (G vectors) are contiguous, so a sweep reads
// whole cache lines. The input projection's GEMM reads its panel gate-major instead (see
// GemmArgs).
//
// bf16 and int8 panels have the same shape with every 32-bit element holding a pair of
// bfloat16 or a quad of int8 weights (below); int8 panels also carry, per output, the
// weight scale and the int32 start value of the sums (scale, comp: [nblocks][G][16]).
//
// bf16 panels: every 32-bit element holds a pair of bfloat16
// weights, W[.][2k'] in the low half and W[.][2k' + 1] in the high half (K' = ceil(K / 2)
// such k'-rows, the odd K padded with a zero weight). Their operands (x, h_prev, the
// scratch rows) are rows of such pairs too, rounded to bfloat16 when written (to_bf16).
// Each k'-row adds the odd product, then the even one, to the fp32 accumulator: the
// order and the roundings of vdpbf16ps (measured on Zen 4), so the AVX512_BF16 kernels
// and the widening ones (AVX-512F, AVX2, portable) give the same sums (except where a
// sum or a product is a float32 denormal, which vdpbf16ps flushes to zero).
//
// int8 panels: every 32-bit element holds W[.][4k' + j] as signed bytes j = 0..3 (K' =
// ceil(K / 4) k'-rows, padded with zeros); operands hold u8 = q + 128 likewise. vpdpbusd
// (and the portable kernels) add the four u8 * s8 products into an int32 that starts at
// comp = -128 * sum_k W_q[o][k], which leaves sum_k q[k] * W_q[o][k]; without VNNI,
// vpmaddubsw + vpmaddwd add the products of the centred q (signed) from 0 instead. The
// epilogue dequantises the sum: a_scale * w_scale[o] * float(sum) + start. Integer sums
// are exact, so every ISA gets the same pre-activations.
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

// How the weights are stored and multiplied. fp32: as given. bf16: weights rounded to
// bfloat16 once; each product's other operand (x_t, h_{t-1}, the LSTM projection's m or
// GRU's r * h) rounded to bfloat16 as it is made. int8: weights quantised once to int8
// per output row (symmetric, scale max|row| / 127); each operand quantised per row as it
// is used (u8 = round(a / s) + 128, s = max|a| / 127). Sums in fp32 (int32 for int8);
// gate math and states in fp32.
enum class Precision { fp32, bf16, int8 };

inline constexpr int num_blocks(int n) { return (n + kBlock - 1) / kBlock; }

// A packed weight matrix: G gates of N outputs each, K inputs.
struct PanelView {
    const float* data = nullptr;  // nblocks * K * G * kBlock floats, 64-byte aligned
    int K = 0;                    // inputs (the length of the dot products)
    int G = 0;                    // gates interleaved per block
    int N = 0;                    // outputs per gate (unpadded)
    int lanes = kBlock;           // sub-block width (the step kernels' vector lanes)
    const float* scale = nullptr; // int8: per-output weight scales, [nblocks][G][16]
    const float* comp = nullptr;  // int8: per-output int32 start values (bits), [nblocks][G][16]
    int nblocks() const { return num_blocks(N); }
    const float* block(int b) const { return data + static_cast<ptrdiff_t>(b) * K * G * kBlock; }
};

// Input projection of a whole sequence: for rows m in [m_begin, m_end),
//     C[m][b][g][:] = bias[b][g][:] + sum_k A[m][k] * panel[b][g][k][:]
// Its panel is packed gate-major (pack_panel's gate_major): a GEMM tile covering one
// gate's columns of a block reads one contiguous stream, k after k.
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
    const float* a_scale = nullptr;  // int8: row m's operand scale at a_scale[m]
    bool lookahead = false;          // fp32: prefetch each next panel while sweeping this one
};

// The activation functions of the ONNX recurrent operators. sigmoid and tanh run
// vectorised (activation.h); the others lane by lane, exact to float rounding.
enum class ActKind : int32_t {
    sigmoid, tanh, relu, affine, leaky_relu, thresholded_relu, scaled_tanh, hard_sigmoid, elu,
    softsign, softplus,
};

struct Activation {
    ActKind kind = ActKind::sigmoid;
    float alpha = 0.0f, beta = 0.0f;
};

// A cell's options beyond PyTorch's (ONNX's peepholes, clip, input_forget, activations).
struct CellOptions {
    const float* peepholes = nullptr;  // LSTM: [nblocks][3][16] for gates i, f, o, or null
    float clip = 0.0f;                 // > 0: pre-activations clamped to [-clip, clip]
    bool input_forget = false;         // LSTM: f = 1 - i
    Activation f{ActKind::sigmoid};    // the gates (LSTM i, f, o; GRU r, z)
    Activation g{ActKind::tanh};       // the candidate (LSTM g, GRU n)
    Activation h{ActKind::tanh};       // LSTM: the cell state's output activation
};

// One recurrent step over n rows. Row i's vectors are reached through per-row pointers,
// so a step can skip finished sequences (lengths) and run each row at its own time index
// (the reverse direction over a row's valid prefix). Internal buffers (h, c, gx, the
// scratch rows) are padded to whole blocks; y rows are the caller's, written for the
// valid units only (the panel's N).
//
// bf16 kernels read their operand from op_prev (h_prev as bf16 pairs) or op_scratch, and
// whatever they write to h_next or scratch they also write, as bf16 pairs, to op_next or
// op_scratch: the next product's operand. x (kx > 0) is in bf16 pairs too.
// int8 kernels read op_prev (h_prev quantised) or op_scratch, with row i's scale at
// op_scale[i]; the driver quantises them (every thread whole rows, so no scale depends
// on the thread split). int8 never folds the input projection (kx = 0).
struct StepRows {
    int n = 0;
    const float* const* h_prev = nullptr;  // K floats: the state the recurrent product reads
    const float* const* gx = nullptr;      // projected input of this step, [nblocks][G][16]
    float* const* h_next = nullptr;        // new state (written by lstm_proj when projecting)
    float* const* y = nullptr;             // output rows (likewise)
    float* const* c = nullptr;             // LSTM cell state, updated in place
    float* const* scratch = nullptr;       // LSTM+proj: m = o*tanh(c); GRU lbr=0: r*h_prev
    float* const* scratch2 = nullptr;      // GRU lbr=0: z
    float* const* partial = nullptr;       // batches: partial sums, G * 16 floats (null: one pass)
    const float* const* x = nullptr;       // steps with kx > 0: the step's input rows
    const float* const* op_prev = nullptr; // bf16: h_prev as pairs (the operand)
    float* const* op_next = nullptr;       // bf16: h_next as pairs
    float* const* op_scratch = nullptr;    // bf16: scratch as pairs (the projection's operand)
    const float* op_scale = nullptr;       // int8: the operand scale of each row
};

// One step kernel's work: rows x the hidden blocks [blk_begin, blk_end) of panel w.
//   lstm_step:  w = W_hh (i, f, g, o over H). Accumulators start from gx (biases folded
//               in); c = f*c + i*g, h = o*tanh(c) -> h_next and y, or m -> scratch when
//               write_m (a projection follows). With kx > 0, w = [W_ih | W_hh] (K = kx +
//               H_out) over [x, h_prev], and gx holds only the biases.
//   lstm_proj:  w = W_hr (1 gate over P, K = H): h = W_hr m, m from scratch -> h_next, y.
//   gru_step:   linear_before_reset = true, w = W_hh (r, z, n). r, z start from gx, the
//               n accumulator from b_hn; n = tanh(gx_n + r * acc_n), h = (1-z)*n + z*h_prev.
//               With kx > 0, w = [W_ih | W_hh] over [x, h_prev] and gx holds the biases;
//               gx_n (from b_in over x) is kept in scratch while acc_n restarts from b_hn.
//   gru_gates:  linear_before_reset = false, phase 1, w = W_hr, W_hz: writes r*h_prev ->
//               scratch and z -> scratch2.
//   gru_cand:   phase 2, w = W_hn over scratch: n = tanh(gx_n + W_hn (r*h_prev)) (b_in and
//               b_hn folded into gx_n), h = (1-z)*n + z*h_prev. Needs every block of
//               phase 1 first.
//
// With options (the ONNX operators' extras; null for PyTorch's cell) every step kernel
// clamps each pre-activation to [-clip, clip] and applies the activations named there:
//   LSTM  i = f(a_i + p_i c)  f = f(a_f + p_f c) (or 1 - i with input_forget)  g = g(a_g)
//         c' = f c + i g      o = f(a_o + p_o c')  h = o * h(c')      (p: peepholes)
//   GRU   r = f(a_r)  z = f(a_z)  n = g(...)                         (the same two forms)
struct StepArgs {
    StepRows rows;
    PanelView w;
    int blk_begin = 0, blk_end = 0;
    const float* b_hn = nullptr;  // gru_step: [nblocks][16], or null for zero
    bool write_m = false;         // lstm_step: projection follows
    int kx = 0;                   // lstm_step, gru_step: w's first kx k-rows multiply rows.x (the
                                  // input projection folded into the step; gx holds the biases only;
                                  // bf16: k'-rows of pairs)
    const CellOptions* options = nullptr;  // null: PyTorch's cell (sigmoid, tanh, no clip)
    bool lookahead = false;  // batched fp32: prefetch each next pass's weights during this one
                             // (worth it where they stream from L3 or memory every step)
    bool descending = false;  // sweep the groups from the last block down (see step_loop)
};
using StepKernel = void (*)(const StepArgs&) noexcept;

// The kernels of one ISA, chosen together (dispatch.cpp picks one table per process).
// The same operations in fp32 and in bf16 (panels and operands of bf16 pairs).
struct PrecisionKernels {
    void (*gemm)(const GemmArgs&) noexcept;
    StepKernel lstm_step;
    StepKernel lstm_proj;
    StepKernel gru_step;
    StepKernel gru_gates;
    StepKernel gru_cand;
};

struct KernelTable {
    const char* name;
    int lanes;  // floats per vector: the sub-block width its step kernels' panels need
    PrecisionKernels f32;
    PrecisionKernels bf16;
    PrecisionKernels int8;
    const char* bf16_method;  // "vdpbf16ps" or "widened to fp32"
    const char* int8_method;  // "vpdpbusd", "vpmaddubsw + vpmaddwd" or the portable sums
    // y[j] = x[2j] | x[2j+1] << 16 as bf16 (round to nearest even, denormals to zero,
    // NaN kept quiet) for j < ceil(n / 2); an odd n pairs the last x with zero.
    void (*to_bf16)(const float* x, float* y, ptrdiff_t n) noexcept;
    // Quantises x[0, n) to u8 quads in y (ceil(n / 4) elements, padded with 128): returns
    // s = max|x| / 127 and stores round(x / s) + 128 (to nearest even); all 128 and s = 0
    // for a zero row; NaN for a row holding NaN or infinity.
    float (*quantize_u8)(const float* x, float* y, ptrdiff_t n) noexcept;
    // Elementwise activations, exposed for accuracy tests.
    void (*sigmoid_f32)(const float* x, float* y, ptrdiff_t n) noexcept;
    void (*tanh_f32)(const float* x, float* y, ptrdiff_t n) noexcept;
};

namespace scalar { extern const KernelTable kernels; }
#if defined(GATEDRNN_HAVE_X86_KERNELS)
namespace avx2 { extern const KernelTable kernels; }
namespace avx512 { extern const KernelTable kernels; }
namespace avx512_bf16_vnni { extern const KernelTable kernels; }  // avx512 + AVX512_BF16, AVX512_VNNI
#endif

}  // namespace gatedrnn
