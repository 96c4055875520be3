#ifndef IES_CPU_TARGET_H
#define IES_CPU_TARGET_H
// Which CPU the Swift code of this build was compiled for (Package.swift's `targetCPU`), and
// the guard that stops a process on a CPU without those instructions before any of that
// code runs. Prefixed `ies_`.

/// LLVM's name of the CPU the Swift code was compiled for: "x86-64" (any x86-64 CPU),
/// "haswell" (AVX2, FMA, BMI2) or "skylake-avx512" (AVX-512 as well).
const char *ies_cpu_target(void);

/// The first instruction-set extension the compiled-for CPU has and this CPU lacks (a name
/// as /proc/cpuinfo spells it), or NULL where this CPU runs the build.
const char *ies_cpu_target_missing(void);

#endif
