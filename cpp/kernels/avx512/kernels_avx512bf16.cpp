// The avx512 kernels again, compiled with AVX512_BF16: their bf16 products use vdpbf16ps.
// dispatch.cpp runs these in place of the avx512 kernels on CPUs that have it.
#include "vec_avx512.h"
#define GATEDRNN_ISA avx512bf16
#include "../generic/instantiate.h"
