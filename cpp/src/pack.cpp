// Weight packing into gate-interleaved panels, done once per model (construction / load).
#include "gatedrnn/pack.h"

#include <cstdlib>
#include <cstring>
#include <new>

namespace gatedrnn {

AlignedBuffer::AlignedBuffer(size_t n) : size_(n) {
    if (n == 0) return;
    if (n > (SIZE_MAX - 63) / sizeof(float)) throw std::bad_alloc();
    const size_t bytes = (n * sizeof(float) + 63) / 64 * 64;
    void* p = std::aligned_alloc(64, bytes);
    if (p == nullptr) throw std::bad_alloc();
    std::memset(p, 0, bytes);
    ptr_.reset(static_cast<float*>(p));
}

void AlignedBuffer::Free::operator()(float* p) const { std::free(p); }

Panel pack_panel(const float* w, int N, int K, int first_gate, int G, bool gate_major) {
    Panel p;
    p.K = K;
    p.G = G;
    p.N = N;
    const int nb = num_blocks(N);
    p.buf = AlignedBuffer(static_cast<size_t>(nb) * K * G * kBlock);
    float* out = p.buf.data();
    for (int b = 0; b < nb; ++b)
        for (int k = 0; k < K; ++k)
            for (int g = 0; g < G; ++g) {
                float* row = out + (gate_major ? (static_cast<ptrdiff_t>(b) * G + g) * K + k
                                               : (static_cast<ptrdiff_t>(b) * K + k) * G + g) * kBlock;
                for (int l = 0; l < kBlock; ++l) {
                    const int unit = b * kBlock + l;
                    if (unit < N) row[l] = w[(static_cast<ptrdiff_t>(first_gate + g) * N + unit) * K + k];
                }
            }
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
                *o = bias[static_cast<ptrdiff_t>(first_gate + g) * N + unit];
            }
    return out;
}

}  // namespace gatedrnn
