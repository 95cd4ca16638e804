// The AVX-512 kernels' lanes and register blocking (32 zmm registers), for generic/tile.h.
// Included inside namespace gatedrnn::avx512 by vec_avx512.h, and inside
// gatedrnn::scalar when that is built with GATEDRNN_SCALAR_AS_AVX512 (vec_scalar.h).
// No guard, no includes.
//
// A step tile is kStepRows<G> rows x G gates x 16 units (at most 24 accumulators); at
// batch 1, kGemvGroups blocks per pass (LSTM: 8 accumulators); the input-projection GEMM
// tile is kGemmRows<G> rows x one whole block row (G vectors).
inline constexpr int kLanes = 16;
template <int G, Precision P = Precision::fp32>
inline constexpr int kStepRows = G >= 4 ? 6 : 8;
inline constexpr int kGemvGroups = 2;
template <int G, Precision P = Precision::fp32>
inline constexpr int kGemmRows = kStepRows<G>;
template <int G>
inline constexpr int kGemmCols = G;
