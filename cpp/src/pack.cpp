// Weight packing into gate-interleaved panels, done once per model (construction / load).
#include "gatedrnn/pack.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <new>
#include <stdexcept>
#include <vector>

#if defined(__linux__)
#include <sys/mman.h>
#endif

namespace gatedrnn {

namespace {
constexpr size_t kHugePage = size_t{2} << 20;
}

AlignedBuffer::AlignedBuffer(size_t n) : size_(n) {
    if (n == 0) return;
    if (n > (SIZE_MAX - kHugePage) / sizeof(float)) throw std::bad_alloc();
    const size_t bytes = (n * sizeof(float) + 63) / 64 * 64;
    // A buffer of 2 MiB or more (a large layer's weights, a long call's projected input)
    // starts on a 2 MiB boundary and asks for transparent huge pages over its whole 2 MiB
    // pieces: weights streamed from L3 or memory every step otherwise miss the TLB every
    // 4 KiB (AVX2 VM, fp32 LSTM: H = 1024 at batch 1 0.81x the time, batch 64 0.93-0.96x;
    // H = 512 0.95-0.97x). Where the kernel gives no huge pages this changes nothing.
    const size_t align = bytes >= kHugePage ? kHugePage : 64;
    void* p = std::aligned_alloc(align, (bytes + align - 1) / align * align);
    if (p == nullptr) throw std::bad_alloc();
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    if (align == kHugePage) madvise(p, bytes / kHugePage * kHugePage, MADV_HUGEPAGE);  // advice: errors ignored
#endif
    std::memset(p, 0, bytes);
    ptr_.reset(static_cast<float*>(p));
}

void AlignedBuffer::Free::operator()(float* p) const { std::free(p); }

namespace {

// Where unit l of block b, gate g, input k sits in a step panel with sub-blocks of
// `lanes` units, and in a gate-major GEMM panel (kernels.h).
ptrdiff_t step_index(int b, int k, int g, int l, int K, int G, int lanes) {
    const ptrdiff_t sub = static_cast<ptrdiff_t>(b) * (kBlock / lanes) + l / lanes;
    return (sub * K + k) * G * lanes + g * lanes + l % lanes;
}
ptrdiff_t gate_major_index(int b, int k, int g, int l, int K, int G) {
    return ((static_cast<ptrdiff_t>(b) * G + g) * K + k) * kBlock + l;
}

void check_lanes(int lanes) {
    if (lanes <= 0 || kBlock % lanes != 0) throw std::invalid_argument("panel lanes must divide 16");
}

}  // namespace

Panel pack_panel(const float* w, int N, int K, int first_gate, int G, bool gate_major, int lanes) {
    check_lanes(lanes);
    Panel p;
    p.K = K;
    p.G = G;
    p.N = N;
    p.lanes = gate_major ? kBlock : lanes;
    const int nb = num_blocks(N);
    p.buf = AlignedBuffer(static_cast<size_t>(nb) * K * G * kBlock);
    float* out = p.buf.data();
    for (int b = 0; b < nb; ++b)
        for (int k = 0; k < K; ++k)
            for (int g = 0; g < G; ++g)
                for (int l = 0; l < kBlock; ++l) {
                    const int unit = b * kBlock + l;
                    if (unit >= N) continue;
                    // memcpy: bf16 pairs and int8 quads travel in floats, bits unchanged
                    std::memcpy(out + (gate_major ? gate_major_index(b, k, g, l, K, G) : step_index(b, k, g, l, K, G, lanes)),
                                w + (static_cast<ptrdiff_t>(first_gate + g) * N + unit) * K + k, sizeof(float));
                }
    return p;
}

Panel pack_panel_bf16(const float* w, int N, int K, int first_gate, int G, bool gate_major, int lanes) {
    // The G * N rows as rows of K' = ceil(K / 2) bf16 pairs, then packed like any panel.
    const int Kp = (K + 1) / 2;
    std::vector<float> pairs(static_cast<size_t>(G) * N * Kp);
    for (ptrdiff_t row = 0; row < static_cast<ptrdiff_t>(G) * N; ++row)
        scalar::kernels.to_bf16(w + (static_cast<ptrdiff_t>(first_gate) * N + row) * K, pairs.data() + row * Kp, K);
    return pack_panel(pairs.data(), N, Kp, 0, G, gate_major, lanes);
}

Panel pack_panel_int8(const float* w, int N, int K, int first_gate, int G, bool gate_major, int lanes) {
    const int Kq = (K + 3) / 4;
    const ptrdiff_t rows = static_cast<ptrdiff_t>(G) * N;
    std::vector<float> quads(static_cast<size_t>(rows) * Kq);  // each row's bytes, 4 per element
    std::vector<float> scale(static_cast<size_t>(rows)), comp(static_cast<size_t>(rows));
    std::vector<int8_t> q(static_cast<size_t>(Kq) * 4);
    for (ptrdiff_t row = 0; row < rows; ++row) {
        const float* wr = w + (static_cast<ptrdiff_t>(first_gate) * N + row) * K;
        float most = 0.0f;
        bool finite = true;
        for (int k = 0; k < K; ++k) {
            most = std::max(most, std::fabs(wr[k]));
            finite = finite && std::isfinite(wr[k]);
        }
        // As quantize_u8 does for operands: a row too small for a normal scale is zero, and
        // a non-finite weight makes the row's scale NaN (its outputs NaN).
        const float s = !finite ? std::numeric_limits<float>::quiet_NaN()
                        : most >= 127.0f * std::numeric_limits<float>::min() ? most / 127.0f : 0.0f;
        int32_t sum = 0;
        std::fill(q.begin(), q.end(), int8_t{0});
        for (int k = 0; k < K && s > 0.0f; ++k) {
            const float v = std::nearbyint(wr[k] / s);
            q[static_cast<size_t>(k)] = static_cast<int8_t>(std::min(127.0f, std::max(-127.0f, v)));
            sum += q[static_cast<size_t>(k)];
        }
        std::memcpy(quads.data() + row * Kq, q.data(), static_cast<size_t>(Kq) * 4);
        scale[static_cast<size_t>(row)] = s;
        const int32_t start = -128 * sum;  // the u8 operands' zero point, taken out in advance
        std::memcpy(&comp[static_cast<size_t>(row)], &start, sizeof start);
    }
    Panel p = pack_panel(quads.data(), N, Kq, 0, G, gate_major, lanes);
    p.scale = pack_bias(scale.data(), N, 0, G);
    p.comp = pack_bias(comp.data(), N, 0, G);
    return p;
}

Panel relayout(const Panel& src, int lanes) {
    check_lanes(lanes);
    Panel p;
    p.K = src.K;
    p.G = src.G;
    p.N = src.N;
    p.lanes = lanes;
    const int nb = num_blocks(src.N), K = src.K, G = src.G;
    p.buf = AlignedBuffer(static_cast<size_t>(nb) * K * G * kBlock);
    for (int b = 0; b < nb; ++b)
        for (int k = 0; k < K; ++k)
            for (int g = 0; g < G; ++g)
                for (int l = 0; l < kBlock; ++l)
                    std::memcpy(p.buf.data() + step_index(b, k, g, l, K, G, lanes),
                                src.buf.data() + step_index(b, k, g, l, K, G, src.lanes), sizeof(float));
    const auto copy = [](const AlignedBuffer& from, AlignedBuffer& to) {  // per output: no sub-blocks
        if (from.size() == 0) return;
        to = AlignedBuffer(from.size());
        std::memcpy(to.data(), from.data(), from.size() * sizeof(float));
    };
    copy(src.scale, p.scale);
    copy(src.comp, p.comp);
    return p;
}

AlignedBuffer pack_bias(const float* bias, int N, int first_gate, int G) {
    const int nb = num_blocks(N);
    AlignedBuffer out(static_cast<size_t>(nb) * G * kBlock);
    float* o = out.data();
    for (int blk = 0; blk < nb; ++blk)
        for (int g = 0; g < G; ++g)
            for (int l = 0; l < kBlock; ++l, ++o) {
                const int unit = blk * kBlock + l;
                if (unit >= N) continue;
                std::memcpy(o, bias + static_cast<ptrdiff_t>(first_gate + g) * N + unit, sizeof(float));
            }
    return out;
}

}  // namespace gatedrnn
