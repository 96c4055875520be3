import CPUTarget

/// The CPU that NN's Swift code (and the rest of ies's) was compiled for: Package.swift's
/// `targetCPU`, from `IES_TARGET_CPU` or the build machine. A process on a CPU without its
/// instructions stops before main with a message (the `CPUTarget` module), so here it always
/// runs. The compiled-for CPU changes the vector width, never a result.
public enum CompiledTarget {
    /// LLVM's name of the CPU: "x86-64", "haswell" or "skylake-avx512".
    public static var cpu: String { String(cString: ies_cpu_target()) }

    /// The first extension the compiled-for CPU has and this one lacks, or nil: always nil in
    /// a process that got this far, as the check before main stops the others.
    public static var missingFeature: String? { ies_cpu_target_missing().map { String(cString: $0) } }
}
