// Weight packing: PyTorch-layout matrices -> the gate-interleaved panels of kernels.h.
#pragma once

#include <cstddef>
#include <memory>

#include "gatedrnn/kernels.h"

namespace gatedrnn {

// A 64-byte aligned, zero-initialised float array. Throws std::bad_alloc.
class AlignedBuffer {
public:
    AlignedBuffer() = default;
    explicit AlignedBuffer(size_t n);
    // Grows to at least n floats (zeroed when it grows); keeps the contents otherwise.
    void reserve(size_t n) {
        if (n > size_) *this = AlignedBuffer(n);
    }
    float* data() { return ptr_.get(); }
    const float* data() const { return ptr_.get(); }
    size_t size() const { return size_; }

private:
    struct Free {
        void operator()(float* p) const;
    };
    std::unique_ptr<float[], Free> ptr_;
    size_t size_ = 0;
};

// An owned packed matrix: G gates of N outputs, K inputs (see kernels.h for the layout).
struct Panel {
    AlignedBuffer buf;
    int K = 0, G = 0, N = 0;
    int lanes = kBlock;   // sub-block width (step panels)
    AlignedBuffer scale;  // int8: per-output weight scales, [nblocks][G][16]
    AlignedBuffer comp;   // int8: per-output int32 start values (bits), [nblocks][G][16]
    PanelView view() const {
        return PanelView{buf.data(), K, G, N, lanes, scale.size() ? scale.data() : nullptr,
                         comp.size() ? comp.data() : nullptr};
    }
};

// Packs gates first_gate .. first_gate + G - 1 of a PyTorch matrix W with rows
// (gate * N + unit) and row stride K into a step panel with sub-blocks of `lanes` (8 or 16)
// units: panel[b][s][k][g][l] = W[(first_gate + g) * N + 16b + lanes*s + l][k]; or, with
// gate_major, into the input projection's GEMM panel[b][g][k][16] (kernels.h).
Panel pack_panel(const float* w, int N, int K, int first_gate, int G, bool gate_major = false,
                 int lanes = kBlock);

// The same in bf16 (kernels.h): K' = ceil(K / 2) k-rows of bf16 pairs.
Panel pack_panel_bf16(const float* w, int N, int K, int first_gate, int G, bool gate_major = false,
                      int lanes = kBlock);

// The same in int8 (kernels.h): each output row quantised symmetrically (scale max|row| /
// 127, round to nearest even), K' = ceil(K / 4) k'-rows of quads, and the per-output
// scale and start value -128 * sum_k q[k].
Panel pack_panel_int8(const float* w, int N, int K, int first_gate, int G, bool gate_major = false,
                      int lanes = kBlock);

// The same step panel with sub-blocks of `lanes` units (for kernels of another width).
Panel relayout(const Panel& p, int lanes);

// A bias vector (gate * N + unit) in the same gate-interleaved order:
// out[b][g][l] = bias[(first_gate + g) * N + 16b + l], 0 past N.
AlignedBuffer pack_bias(const float* bias, int N, int first_gate, int G);

}  // namespace gatedrnn
