#include "cpu_target.h"
#include <stdio.h>
#include <stdlib.h>

#if defined(IES_TARGET_SKYLAKE_AVX512)
#define IES_TARGET_NAME "skylake-avx512"
#elif defined(IES_TARGET_HASWELL)
#define IES_TARGET_NAME "haswell"
#else
#define IES_TARGET_NAME "x86-64"
#endif

const char *ies_cpu_target(void) { return IES_TARGET_NAME; }

const char *ies_cpu_target_missing(void) {
#if defined(__x86_64__) && (defined(IES_TARGET_SKYLAKE_AVX512) || defined(IES_TARGET_HASWELL))
    __builtin_cpu_init();
#define IES_NEED(feature, name) \
    if (!__builtin_cpu_supports(feature)) return name;
#if defined(IES_TARGET_SKYLAKE_AVX512)
    IES_NEED("avx512f", "avx512f")
    IES_NEED("avx512bw", "avx512bw")
    IES_NEED("avx512dq", "avx512dq")
    IES_NEED("avx512vl", "avx512vl")
    IES_NEED("avx512cd", "avx512cd")
#endif
    IES_NEED("avx2", "avx2")
    IES_NEED("fma", "fma")
    IES_NEED("bmi", "bmi1")
    IES_NEED("bmi2", "bmi2")
    IES_NEED("lzcnt", "abm")
    IES_NEED("popcnt", "popcnt")
    IES_NEED("f16c", "f16c")
    IES_NEED("movbe", "movbe")
#undef IES_NEED
#endif
    return NULL;
}

/// Runs before main, before any Swift code of ours: a build for a CPU this one is not would
/// otherwise die of SIGILL somewhere in the middle of a run.
__attribute__((constructor)) static void ies_cpu_target_check(void) {
    const char *missing = ies_cpu_target_missing();
    if (!missing) return;
    fprintf(stderr,
            "ies: this build was compiled for %s CPUs, and this CPU lacks %s. Build ies on this "
            "machine, or build once for any x86-64 CPU with `IES_TARGET_CPU=x86-64 swift build -c "
            "release` (README, \"Building for other CPUs\").\n",
            IES_TARGET_NAME, missing);
    exit(1);
}
