// The avx2 kernels: every algorithm of ../generic/ compiled over vec_avx2.h.
#include "vec_avx2.h"
#define GATEDRNN_ISA avx2
#include "../generic/instantiate.h"
