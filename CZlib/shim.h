#ifndef IES_CZLIB_SHIM_H
#define IES_CZLIB_SHIM_H
// zlib (Debian: zlib1g-dev): gzread reads gzip and raw files alike.
#include <zlib.h>
#endif
