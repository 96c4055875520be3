import ArgumentParser
import Foundation
import Mastery
import NN
import Benchmarks
import Training

/// `ies bench`: training throughput of the presets and sgemm GFLOP/s, in one run; with
/// `--layers` or `--convs`, the time of every layer beside the CPU's FMA peak and sgemm.
struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure training samples/s (forward + backward + update) and OpenBLAS sgemm GFLOP/s.",
        discussion: """
            With --layers MODEL (or --convs), times every layer alone instead: forward and backward \
            milliseconds and GFLOP/s, OpenBLAS sgemm GFLOP/s at the layer's own GEMM shapes (a \
            convolution's im2col lowering), the layer's share of the model's step, and the \
            single-thread FMA peak of the CPU.
            """)

    @Option(parsing: .unconditional, help: "Batch size of the training steps.")
    var batchSize = 64

    @Option(parsing: .unconditional, help: "Timed runs per configuration (the median is reported; default 5, 3 with --layers/--convs).")
    var repeats: Int?

    @Option(parsing: .unconditional, help: "Seconds per timed run (default 2, 0.2 with --layers/--convs).")
    var seconds: Double?

    @Option(help: "Time every layer of this model alone (see below) instead of the training benchmarks.")
    var layers: ModelPreset?

    @Option(
        parsing: .upToNextOption,
        help: ArgumentHelp(
            "Time these convolutions alone, as layers inside a network (input gradient included).",
            valueName: "cin:cout:size:kernel:stride[:bias]"))
    var convs: [ConvSpec] = []

    @Option(help: "Convolution algorithm for --layers and --convs (automatic picks per shape).")
    var convAlgorithm: Conv2d.Algorithm = .automatic

    @Option(help: ArgumentHelp(
        "Per-sample input shape (default 1,28,28; 3,32,32 for an image network with --layers).",
        valueName: "c,h,w"))
    var input: String?

    @Option(parsing: .unconditional, help: "First-stage width of the resnets (default 64).")
    var width: Int?

    @Option(parsing: .upToNextOption, help: "Thread counts to measure.")
    var threads: [Int] = [1, 2]

    @Option(parsing: .upToNextOption, help: "Models to measure.")
    var models: [ModelPreset] = [.mlp, .cnn]

    func validate() throws {
        guard batchSize > 0, batchSize <= 1 << 16 else {
            throw ValidationError("--batch-size must be in 1...\(1 << 16), got \(batchSize)")
        }
        guard (repeats ?? 1) > 0 else { throw ValidationError("--repeats must be positive, got \(repeats!)") }
        if let seconds, !(seconds > 0 && seconds.isFinite) {
            throw ValidationError("--seconds must be a positive number, got \(seconds)")
        }
        guard trackerInstances >= 0 else {
            throw ValidationError("--tracker-instances must be >= 0 (0 skips it), got \(trackerInstances)")
        }
        if input != nil && inputShape == nil { throw ValidationError("--input must be three positive integers c,h,w") }
        if let width {
            guard width > 0, width <= TrainingConfig.maxWidth else {
                throw ValidationError("--width must be in 1...\(TrainingConfig.maxWidth), got \(width)")
            }
            guard layers?.takesWidth == true || models.contains(where: \.takesWidth) else {
                throw ValidationError("--width applies to the resnets")
            }
        }
        guard threads.allSatisfy({ $0 > 0 }) else { throw ValidationError("--threads values must be positive") }
        if loops && (layers != nil || !convs.isEmpty) {
            throw ValidationError("--loops applies to the training benchmarks, not to --layers or --convs")
        }
    }

    @Flag(help: ArgumentHelp(
        "Also show where each training step's time goes between the threads: every parallel loop by its call site.",
        discussion: "Per step and loop: the serial time before it, the calling thread's piece, the slowest other piece, "
            + "the workers' start, and the caller's wait for them (microseconds)."))
    var loops = false

    @Option(parsing: .unconditional, help: "Instances for the mastery-tracker measurement (0 skips it).")
    var trackerInstances = 1_280_000

    @Option(help: "Dataset for the checkpoint write/read measurement of the cnn ('' skips it).")
    var checkpointData = "/usr/share/datasets/fashion-mnist"

    private var inputShape: [Int]? {
        guard let input else { return layers?.isImageNetwork == true ? [3, 32, 32] : [1, 28, 28] }
        let values = input.split(separator: ",").compactMap { Int($0) }
        return values.count == 3 && values.allSatisfy({ $0 > 0 }) ? values : nil
    }

    func run() throws {
        if layers != nil || !convs.isEmpty { return try runLayers() }
        let repeats = repeats ?? 5, seconds = seconds ?? 2.0
        if trackerInstances > 0 {
            let (record, decide) = Benchmark.trackerMilliseconds(
                instances: trackerInstances, rule: .defaults, repeats: repeats)
            let total = zip(record, decide).map { $0 + $1 }
            print(String(
                format: "tracker %ld instances: record %.1f ms + decide %.1f ms = %.1f ms per epoch (median)",
                trackerInstances, Benchmark.median(record), Benchmark.median(decide), Benchmark.median(total)))
        }
        if trackerInstances > 0 {
            let plan = Benchmark.rebalancePlanMilliseconds(ranks: 1024, instances: trackerInstances, repeats: repeats)
            print(String(
                format: "rebalance plan for 1024 ranks, %ld instances: %.3f ms (median, computed by every rank once per epoch)",
                trackerInstances, Benchmark.median(plan)))
        }
        if !checkpointData.isEmpty {
            let directory = NSTemporaryDirectory() + "ies-bench-checkpoint-\(getpid())"
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let (write, read) = try Benchmark.checkpointSeconds(
                preset: .cnn, dataDirectory: checkpointData, repeats: repeats, directory: directory)
            print(String(
                format: "checkpoint cnn, all instances of %@ tracked: write %.3f s, read %.3f s (median)",
                checkpointData, Benchmark.median(write), Benchmark.median(read)))
        }
        print("GEMM: \(BLAS.identity); code for \(CompiledTarget.cpu) CPUs; batch \(batchSize); median of \(repeats) runs of \(seconds) s")
        for t in threads {
            let sgemm = Benchmark.sgemmGFLOPS(m: 1024, n: 1024, k: 1024, threads: t, repeats: repeats, seconds: seconds / 2)
            print(String(format: "sgemm 1024^3        threads %ld  %8.1f GFLOP/s", t, sgemm))
        }
        for preset in models {
            for t in threads {
                // The share of sgemm is taken run by run against an sgemm 1024^3 timed just
                // before it: a shared machine's speed can change by half between runs.
                var references: [Double] = []
                let profile = loops ? LoopProfile() : nil
                let (runs, flops, steps) = try Benchmark.trainingThroughput(
                    preset: preset, threads: t, batchSize: batchSize, repeats: repeats, seconds: seconds,
                    input: input == nil ? [1, 28, 28] : inputShape!, stageWidth: preset.takesWidth ? width : nil,
                    beforeEachRun: {
                        references.append(Benchmark.sgemmGFLOPS(
                            m: 1024, n: 1024, k: 1024, threads: t, repeats: 1, seconds: seconds / 4))
                        // OpenBLAS's own threads spin for a while after a threaded call: let
                        // them sleep before the run, which they would otherwise slow down.
                        Thread.sleep(forTimeInterval: 0.3)
                    }, loops: profile)
                let median = Benchmark.median(runs)
                let gflops = median * flops / 1e9
                let shares = zip(runs, references).map { $0 * flops / 1e9 / $1 }
                print(String(
                    format: "train %@ threads %ld  %9.0f samples/s (min %.0f, max %.0f)  %6.1f GFLOP/s = %.2f of sgemm "
                        + "(median of each run against sgemm 1024^3 just before it: %.2f-%.2f; sgemm %.0f-%.0f)",
                    preset.rawValue.padding(toLength: 8, withPad: " ", startingAt: 0), t, median,
                    runs.min()!, runs.max()!, gflops, Benchmark.median(shares), shares.min()!, shares.max()!,
                    references.min()!, references.max()!))
                if let profile { print(Self.table(of: profile, steps: steps, stepSeconds: Double(batchSize) / median)) }
            }
        }
    }

    /// The `--loops` table: per site, calls per step and microseconds per call, then the
    /// step's time in the loops (the caller's piece and wait) and between them.
    static func table(of profile: LoopProfile, steps: Int, stepSeconds: Double) -> String {
        let sites = profile.sites
        let width = max(24, sites.map(\.site.count).max() ?? 0)
        let us = { (seconds: Double, calls: Int) in String(format: "%9.1f", seconds / Double(max(1, calls)) * 1e6) }
        var lines = [
            "parallel loops, per call (us) over \(steps) steps of \(String(format: "%.1f", stepSeconds * 1e6)) us:",
            "site".padding(toLength: width, withPad: " ", startingAt: 0)
                + " calls/step  serial before  caller piece  slowest other  workers start  caller waits",
        ]
        var inLoops = 0.0, between = 0.0
        for (site, t) in sites {
            inLoops += t.callerPiece + t.callerWait
            between += t.serialBefore
            lines.append(
                site.padding(toLength: width, withPad: " ", startingAt: 0)
                    + String(format: " %10.1f", Double(t.calls) / Double(max(1, steps)))
                    + "      " + us(t.serialBefore, t.calls) + "      " + us(t.callerPiece, t.calls) + "       "
                    + us(t.slowestOtherPiece, t.calls) + "       " + us(t.pickUp, t.calls) + "      "
                    + us(t.callerWait, t.calls))
        }
        let perStep = { (seconds: Double) in seconds / Double(max(1, steps)) * 1e6 }
        lines.append(String(
            format: "per step: %.1f us in parallel loops (%.1f waiting for other threads), %.1f us on the calling thread alone",
            perStep(inLoops), perStep(sites.reduce(0) { $0 + $1.totals.callerWait }), perStep(between)))
        return lines.joined(separator: "\n")
    }
}

/// One convolution of `--convs`: "cin:cout:size:kernel:stride[:bias]", padding kernel/2.
struct ConvSpec: ExpressibleByArgument {
    let inChannels: Int, outChannels: Int, size: Int, kernel: Int, stride: Int, bias: Bool
    let text: String

    init?(argument: String) {
        text = argument
        let parts = argument.split(separator: ":")
        let numbers = parts.prefix(5).compactMap { Int($0) }
        guard numbers.count == 5, numbers.allSatisfy({ $0 > 0 }), parts.count <= 6 else { return nil }
        if parts.count == 6 && parts[5] != "bias" { return nil }
        (inChannels, outChannels, size, kernel, stride) = (numbers[0], numbers[1], numbers[2], numbers[3], numbers[4])
        bias = parts.count == 6
    }

    func layer() throws -> Conv2d {
        try Conv2d(
            inputShape: [inChannels, size, size], outChannels: outChannels, kernel: kernel, stride: stride,
            padding: kernel / 2, bias: bias)
    }
}

extension Bench {
    private func use(_ algorithm: Conv2d.Algorithm, in model: Model) {
        for case let conv as Conv2d in model.leaves { conv.algorithm = algorithm }
        model.reserveScratch()
    }

    /// `--layers` / `--convs`: per-layer times, per thread count.
    func runLayers() throws {
        let repeats = repeats ?? 3, seconds = seconds ?? 0.2
        let peak = Benchmark.fmaPeakGFLOPS(repeats: repeats, seconds: seconds)
        print(String(
            format: "FMA peak %.1f GFLOP/s per thread (%ld-float FMAs in registers); GEMM %@; code for %@; batch %ld; "
                + "median of %ld runs of %.2f s",
            peak, BLAS.fmaLanes, BLAS.kernelFamily, CompiledTarget.cpu, batchSize, repeats, seconds))
        for t in threads {
            let sgemm = Benchmark.sgemmGFLOPS(m: 1024, n: 1024, k: 1024, threads: t, repeats: repeats, seconds: seconds)
            print(String(
                format: "\nthreads %ld: peak %.1f GFLOP/s (FMA x %ld), sgemm 1024^3 %.1f GFLOP/s", t, peak * Double(t), t,
                sgemm))
            if let preset = layers, let shape = inputShape {
                let model = try preset.build(
                    channels: shape[0], height: shape[1], width: shape[2], classes: 10, maxBatch: batchSize, seed: 1,
                    compute: Compute(threads: t), stageWidth: width)
                use(convAlgorithm, in: model)
                print("\(preset.rawValue)\(width.map { " width \($0)" } ?? "") on \(shape.map(String.init).joined(separator: "x")):")
                let profile = Benchmark.profileLayers(
                    model: model, batch: batchSize, repeats: repeats, seconds: seconds, sgemm: true)
                profile.table.forEach { print($0) }
            }
            if !convs.isEmpty {
                var profiles: [LayerProfile] = []
                for spec in convs {
                    let model = try Model(try spec.layer(), maxBatch: batchSize, compute: Compute(threads: t))
                    model.initialize(seed: 1)
                    use(convAlgorithm, in: model)
                    let profile = Benchmark.profileLayers(
                        model: model, batch: batchSize, repeats: repeats, seconds: seconds, sgemm: true,
                        firstInputGradient: true)
                    profiles += profile.layers.map {
                        var named = $0
                        named.name = spec.text
                        return named
                    }
                }
                let stack = ModelProfile(
                    batch: batchSize, threads: t, layers: profiles,
                    modelForwardSeconds: profiles.reduce(0) { $0 + $1.forwardSeconds },
                    modelBackwardSeconds: profiles.reduce(0) { $0 + $1.backwardSeconds })
                print("convolutions (input size, kernel/2 padding):")
                stack.table.forEach { print($0) }
            }
        }
    }
}
