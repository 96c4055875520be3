/// Batch normalization over (N, H, W) per channel, PyTorch `nn.BatchNorm2d(C)` (eps 1e-5,
/// momentum 0.1, affine, running statistics tracked).
///
/// Training, for channel c over the n = B·H·W values of the batch:
///   mean = Σx / n,  var = Σ(x - mean)² / n (biased),  x̂ = (x - mean) / sqrt(var + eps)
///   y = weight · x̂ + bias
///   dbias += Σdy,  dweight += Σ dy·x̂,  dx = weight / sqrt(var + eps) · (dy - Σdy/n - x̂ · Σ(dy·x̂)/n)
/// Evaluation: y = weight · (x - running_mean) / sqrt(running_var + eps) + bias.
///
/// Running statistics are NOT updated during forward: a training forward writes the
/// batch's shifted sums S1 = Σ(x - r), S2 = Σ(x - r)² (r = running_mean, identical on all
/// ranks, so the shift keeps S2 - S1²/n well conditioned) into `context.statistics`; once
/// they are summed over ranks, `foldStatistics` applies PyTorch's update with the global
/// batch: running_mean += m (mean - running_mean), running_var += m (var·n/(n-1) - running_var).
/// With one rank this is PyTorch's update; with several, every rank applies the same
/// update, so buffers stay bit-identical (DDP would broadcast rank 0's instead).
///
/// With `context.synchronize` (synchronized BatchNorm) the mean and variance, and the two
/// sums of backward, are those of the global batch (one reduction each way per layer).
public final class BatchNorm2d: Layer {
    public let channels: Int, height: Int, width: Int
    public let eps: Float = 1e-5
    public let momentum: Float = 0.1
    private var parameterOffset = 0
    private var bufferOffset = 0
    /// Per channel, of the last training forward: mean and 1/sqrt(var + eps) used, and n.
    private var savedMean: [Float]
    private var savedInverseStd: [Float]
    private var savedCount = 0

    public init(shape: [Int]) throws {
        guard shape.count == 3, shape.allSatisfy({ $0 > 0 }) else {
            throw ShapeError("BatchNorm2d expects (C, H, W) input, got \(shape)")
        }
        channels = shape[0]; height = shape[1]; width = shape[2]
        savedMean = [Float](repeating: 0, count: channels)
        savedInverseStd = [Float](repeating: 1, count: channels)
    }

    public var inputShape: [Int] { [channels, height, width] }
    public var outputShape: [Int] { inputShape }
    public var parameterSpecs: [ParameterSpec] {
        [ParameterSpec(suffix: "weight", shape: [channels], initialization: .constant(1)),
         ParameterSpec(suffix: "bias", shape: [channels], initialization: .constant(0))]
    }
    public var bufferSpecs: [ParameterSpec] {
        [ParameterSpec(suffix: "running_mean", shape: [channels], initialization: .constant(0)),
         ParameterSpec(suffix: "running_var", shape: [channels], initialization: .constant(1))]
    }
    public var tracksBatches: Bool { true }
    public var communicates: Bool { true }
    public func bind(parameterOffset: Int, bufferOffset: Int) {
        self.parameterOffset = parameterOffset
        self.bufferOffset = bufferOffset
    }
    /// Backward recomputes x̂ from x and the saved statistics, never reading y: a ReLU after
    /// it may run in place.
    public var backwardReadsOutput: Bool { false }
    public var description: String {
        "BatchNorm2d(\(channels), eps=1e-05, momentum=0.1, affine=True, track_running_stats=True)"
    }

    private var plane: Int { height * width }

    public func forward(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, batch: Int, context: LayerContext) {
        let weight = context.parameters + parameterOffset, bias = weight + channels
        let runningMean = context.buffers + bufferOffset, runningVar = runningMean + channels
        let (C, P) = (channels, plane)
        guard context.training else {
            context.compute.chunks(C) { range in
                for n in 0..<batch {
                    for c in range {
                        let scale = weight[c] / (runningVar[c] + eps).squareRoot()
                        let shift = bias[c] - runningMean[c] * scale
                        Vector.affine(x + (n * C + c) * P, scale, shift, y + (n * C + c) * P, count: P)
                    }
                }
            }
            return
        }
        // Without synchronization each channel is summed and then normalized while its planes
        // (batch x plane floats) are still in the core's cache.
        guard let synchronize = context.synchronize else {
            return forwardByChannel(x, y, batch: batch, context: context)
        }
        // Shifted sums per channel (Double: n can be 65,536 and more). The planes are visited
        // in memory order (sample by sample, each thread its channels), which the prefetcher
        // follows when x comes from outside the caches; each channel still adds its planes
        // in sample order, so the sums are the same bits as channel by channel.
        var sums = [Double](repeating: 0, count: 2 * C + 1)
        sums.withUnsafeMutableBufferPointer { s in
            let s = s.baseAddress!
            context.compute.chunks(C) { range in
                for n in 0..<batch {
                    for c in range {
                        let (a, b) = Vector.shiftedSums(x + (n * C + c) * P, shift: runningMean[c], count: P)
                        s[c] += Double(a)
                        s[C + c] += Double(b)
                    }
                }
            }
            s[2 * C] = Double(batch * P)
        }
        writeStatistics(sums, context: context)
        sums.withUnsafeMutableBufferPointer { synchronize($0) }
        let n = sums[2 * C]
        savedCount = Int(n)
        guard n > 0 else { return }
        savedMean.withUnsafeMutableBufferPointer { mean in
            savedInverseStd.withUnsafeMutableBufferPointer { inverseStd in
                for c in 0..<C {
                    (mean[c], inverseStd[c]) = Self.moments(
                        sums[c], sums[C + c], count: n, runningMean: runningMean[c], eps: eps)
                }
            }
        }
        savedMean.withUnsafeBufferPointer { mean in
            savedInverseStd.withUnsafeBufferPointer { inverseStd in
                context.compute.chunks(C) { range in
                    normalize(
                        x, y, channels: range, batch: batch, weight: weight, mean: mean.baseAddress!,
                        inverseStd: inverseStd.baseAddress!)
                }
            }
        }
    }

    /// y = weight · (x - mean) · inverseStd + bias for `channels` of the batch (bias follows
    /// weight), samples in order.
    @inline(__always)
    private func normalize(
        _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, channels: Range<Int>, batch: Int,
        weight: UnsafePointer<Float>, mean: UnsafePointer<Float>, inverseStd: UnsafePointer<Float>
    ) {
        let (C, P, bias, first) = (self.channels, plane, weight + self.channels, channels.lowerBound)
        // Each channel's scale and shift once, not once per sample.
        withUnsafeTemporaryAllocation(of: Float.self, capacity: 2 * channels.count) { coefficients in
            let (scale, shift) = (coefficients.baseAddress!, coefficients.baseAddress! + channels.count)
            for c in channels {
                scale[c - first] = weight[c] * inverseStd[c]
                shift[c - first] = bias[c] - mean[c] * scale[c - first]
            }
            for i in 0..<batch {
                for c in channels {
                    Vector.affine(
                        x + (i * C + c) * P, scale[c - first], shift[c - first], y + (i * C + c) * P, count: P)
                }
            }
        }
    }

    /// The training forward of one rank's batch, in blocks of channels: the shifted sums of
    /// each channel of a block, its planes added in sample order (the same bits as the
    /// memory-order pass above), their means and 1/std, then the block's planes normalized,
    /// read the second time from the cache. A block is as many channels as fit
    /// `blockFloats`, so that small planes are still read in runs the prefetcher follows.
    private func forwardByChannel(
        _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, batch: Int, context: LayerContext
    ) {
        let weight = context.parameters + parameterOffset
        let runningMean = context.buffers + bufferOffset
        let (C, P) = (channels, plane)
        let n = Double(batch * P)
        savedCount = batch * P
        var sums = [Double](repeating: 0, count: 2 * C + 1)
        sums[2 * C] = n
        guard batch > 0 else { return writeStatistics(sums, context: context) }
        let eps = eps, blockChannels = Self.blockChannels(batch: batch, plane: P)
        sums.withUnsafeMutableBufferPointer { s in
            savedMean.withUnsafeMutableBufferPointer { mean in
                savedInverseStd.withUnsafeMutableBufferPointer { inverseStd in
                    let (s, mean, inverseStd) = (s.baseAddress!, mean.baseAddress!, inverseStd.baseAddress!)
                    context.compute.chunks(C) { range in
                        for first in stride(from: range.lowerBound, to: range.upperBound, by: blockChannels) {
                            let block = first..<min(first + blockChannels, range.upperBound)
                            Self.blockSums(block, batch: batch, into: s, stride: C) { i, c in
                                Vector.shiftedSums(x + (i * C + c) * P, shift: runningMean[c], count: P)
                            }
                            for c in block {
                                (mean[c], inverseStd[c]) = Self.moments(
                                    s[c], s[C + c], count: n, runningMean: runningMean[c], eps: eps)
                            }
                            normalize(
                                x, y, channels: block, batch: batch, weight: weight, mean: mean, inverseStd: inverseStd)
                        }
                    }
                }
            }
        }
        writeStatistics(sums, context: context)
    }

    /// For every channel c of `block`, the two sums `plane(i, c)` gives for the planes of
    /// samples i = 0, 1, ... added in that order in Double, into sums[c] and sums[stride + c].
    /// They are added on the thread's own stack and stored once: the threads' channels meet
    /// in the cache lines of `sums`.
    @inline(__always)
    private static func blockSums(
        _ block: Range<Int>, batch: Int, into sums: UnsafeMutablePointer<Double>, stride: Int,
        plane: (_ sample: Int, _ channel: Int) -> (Float, Float)
    ) {
        withUnsafeTemporaryAllocation(of: Double.self, capacity: 2 * block.count) { local in
            let (first, width) = (block.lowerBound, block.count)
            local.initialize(repeating: 0)
            for i in 0..<batch {
                for c in block {
                    let (a, b) = plane(i, c)
                    local[c - first] += Double(a)
                    local[width + c - first] += Double(b)
                }
            }
            for c in block {
                sums[c] = local[c - first]
                sums[stride + c] = local[width + c - first]
            }
        }
    }

    /// Floats of one array (x, or dy) a block of the channel-by-channel passes reads twice:
    /// 128 KB, so that a block's x and dy stay in a core's L2 between the passes.
    public static let blockFloats = 32_768

    /// Channels per block of the channel-by-channel passes for planes of `plane` floats.
    public static func blockChannels(batch: Int, plane: Int) -> Int { max(1, blockFloats / max(1, batch * plane)) }

    /// The batch's shifted sums S1, S2 into `context.statistics` (summed over ranks later).
    private func writeStatistics(_ sums: [Double], context: LayerContext) {
        guard let statistics = context.statistics else { return }
        for c in 0..<channels {
            statistics[bufferOffset + c] = Float(sums[c])
            statistics[bufferOffset + channels + c] = Float(sums[channels + c])
        }
    }

    /// A channel's mean and 1/sqrt(var + eps) from its sums S1 = Σ(x - r), S2 = Σ(x - r)² over
    /// n values (r its running mean).
    private static func moments(
        _ s1: Double, _ s2: Double, count n: Double, runningMean r: Float, eps: Float
    ) -> (mean: Float, inverseStd: Float) {
        let shifted = s1 / n
        let variance = max(0, s2 / n - shifted * shifted)
        return (Float(Double(r) + shifted), Float(1 / (variance + Double(eps)).squareRoot()))
    }

    public func backward(
        _ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>, _ dy: UnsafePointer<Float>,
        _ dx: UnsafeMutablePointer<Float>?, batch: Int, context: LayerContext
    ) {
        guard let synchronize = context.synchronize else {
            return backwardByChannel(x, dy, dx, batch: batch, context: context)
        }
        let weight = context.parameters + parameterOffset
        let (C, P) = (channels, plane)
        // Σdy and Σ dy·x̂ per channel, x̂ recomputed from x with the saved mean and 1/std
        // (planes in memory order, each channel's in sample order, as in forward).
        var sums = [Double](repeating: 0, count: 2 * C)
        savedMean.withUnsafeBufferPointer { mean in
            savedInverseStd.withUnsafeBufferPointer { inverseStd in
                sums.withUnsafeMutableBufferPointer { s in
                    let s = s.baseAddress!
                    context.compute.chunks(C) { range in
                        for n in 0..<batch {
                            for c in range {
                                let (a, b) = Vector.normalizedDotSums(
                                    dy + (n * C + c) * P, x + (n * C + c) * P, mean: mean[c], inverseStd: inverseStd[c],
                                    count: P)
                                s[c] += Double(a)
                                s[C + c] += Double(b)
                            }
                        }
                    }
                }
            }
        }
        if let gradients = context.gradients {
            let dWeight = gradients + parameterOffset, dBias = dWeight + C
            for c in 0..<C {
                dWeight[c] += Float(sums[C + c])
                dBias[c] += Float(sums[c])
            }
        }
        // The data gradient needs the sums over the same batch that was normalized.
        sums.withUnsafeMutableBufferPointer { synchronize($0) }
        guard let dx, savedCount > 0 else { return }
        savedMean.withUnsafeBufferPointer { mean in
            savedInverseStd.withUnsafeBufferPointer { inverseStd in
                sums.withUnsafeBufferPointer { s in
                    context.compute.chunks(C) { range in
                        inputGradient(
                            x, dy, dx, channels: range, batch: batch, sums: s.baseAddress!, weight: weight,
                            mean: mean.baseAddress!, inverseStd: inverseStd.baseAddress!)
                    }
                }
            }
        }
    }

    /// dx for `channels` of the batch, channel c from Σdy in sums[c] and Σ dy·x̂ in
    /// sums[C + c] (C the layer's channel count; over the `savedCount` values normalized),
    /// samples in order.
    @inline(__always)
    private func inputGradient(
        _ x: UnsafePointer<Float>, _ dy: UnsafePointer<Float>, _ dx: UnsafeMutablePointer<Float>, channels: Range<Int>,
        batch: Int, sums: UnsafePointer<Double>, weight: UnsafePointer<Float>, mean: UnsafePointer<Float>,
        inverseStd: UnsafePointer<Float>
    ) {
        let (C, P, n, first, width) = (self.channels, plane, Double(savedCount), channels.lowerBound, channels.count)
        // Each channel's scale and means once, not once per sample.
        withUnsafeTemporaryAllocation(of: Float.self, capacity: 3 * width) { coefficients in
            let scale = coefficients.baseAddress!, meanDy = scale + width, meanDyXhat = scale + 2 * width
            for c in channels {
                scale[c - first] = weight[c] * inverseStd[c]
                meanDy[c - first] = Float(sums[c] / n)
                meanDyXhat[c - first] = Float(sums[C + c] / n)
            }
            for i in 0..<batch {
                for c in channels {
                    let offset = (i * C + c) * P, k = c - first
                    Vector.batchNormInputGradient(
                        dy + offset, x + offset, dx + offset, mean: mean[c], inverseStd: inverseStd[c], scale: scale[k],
                        meanDy: meanDy[k], meanDyXhat: meanDyXhat[k], count: P)
                }
            }
        }
    }

    /// The backward of one rank's batch, in blocks of channels as in forward: each channel's
    /// two sums, its planes in sample order (the same bits as the memory-order pass above),
    /// its parameter gradients, then the block's input gradient from dy and x read the
    /// second time from the cache.
    private func backwardByChannel(
        _ x: UnsafePointer<Float>, _ dy: UnsafePointer<Float>, _ dx: UnsafeMutablePointer<Float>?, batch: Int,
        context: LayerContext
    ) {
        let weight = context.parameters + parameterOffset
        let dWeight = context.gradients.map { $0 + parameterOffset }
        let (C, P) = (channels, plane)
        let blockChannels = Self.blockChannels(batch: batch, plane: P)
        var sums = [Double](repeating: 0, count: 2 * C)
        sums.withUnsafeMutableBufferPointer { s in
            savedMean.withUnsafeBufferPointer { mean in
                savedInverseStd.withUnsafeBufferPointer { inverseStd in
                    let s = s.baseAddress!
                    context.compute.chunks(C) { range in
                        for first in stride(from: range.lowerBound, to: range.upperBound, by: blockChannels) {
                            let block = first..<min(first + blockChannels, range.upperBound)
                            Self.blockSums(block, batch: batch, into: s, stride: C) { i, c in
                                Vector.normalizedDotSums(
                                    dy + (i * C + c) * P, x + (i * C + c) * P, mean: mean[c], inverseStd: inverseStd[c],
                                    count: P)
                            }
                            if let dWeight {
                                for c in block {
                                    dWeight[c] += Float(s[C + c])
                                    dWeight[C + c] += Float(s[c])
                                }
                            }
                            guard let dx, savedCount > 0 else { continue }
                            inputGradient(
                                x, dy, dx, channels: block, batch: batch, sums: s, weight: weight,
                                mean: mean.baseAddress!, inverseStd: inverseStd.baseAddress!)
                        }
                    }
                }
            }
        }
    }

    public func foldStatistics(_ statistics: UnsafePointer<Float>, into buffers: UnsafeMutablePointer<Float>, instances: Int) {
        let n = Double(instances * plane)
        guard n > 1 else { return }
        let runningMean = buffers + bufferOffset, runningVar = runningMean + channels
        let s1 = statistics + bufferOffset, s2 = s1 + channels
        let m = Double(momentum)
        for c in 0..<channels {
            let shifted = Double(s1[c]) / n
            let mean = Double(runningMean[c]) + shifted
            let unbiased = max(0, Double(s2[c]) / n - shifted * shifted) * n / (n - 1)
            runningMean[c] = Float((1 - m) * Double(runningMean[c]) + m * mean)
            runningVar[c] = Float((1 - m) * Double(runningVar[c]) + m * unbiased)
        }
    }
}
