// The avx512 kernels: every algorithm of ../generic/ compiled over vec_avx512.h.
#include "vec_avx512.h"
#define GATEDRNN_ISA avx512
#include "../generic/instantiate.h"
