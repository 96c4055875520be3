#ifndef IES_CBLAS_SHIM_H
#define IES_CBLAS_SHIM_H
// OpenBLAS's CBLAS interface (Debian: libopenblas-dev, pkg-config `openblas`).
// Nothing here is Swift API; NN wraps it.
#include <cblas.h>
#endif
