#ifndef FEDMQ_COPENBLAS_SHIM_H
#define FEDMQ_COPENBLAS_SHIM_H

// OpenBLAS's CBLAS interface (cblas_sgemm, openblas_set_num_threads). The include path comes
// from pkg-config "openblas" (Debian: libopenblas-dev), which picks the pthread variant.
#include <cblas.h>

#endif
