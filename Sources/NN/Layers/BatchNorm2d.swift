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
        if let statistics = context.statistics {
            for c in 0..<C {
                statistics[bufferOffset + c] = Float(sums[c])
                statistics[bufferOffset + C + c] = Float(sums[C + c])
            }
        }
        sums.withUnsafeMutableBufferPointer { context.synchronize?($0) }
        let n = sums[2 * C]
        savedCount = Int(n)
        guard n > 0 else { return }
        for c in 0..<C {
            let shifted = sums[c] / n
            let variance = max(0, sums[C + c] / n - shifted * shifted)
            savedMean[c] = Float(Double(runningMean[c]) + shifted)
            savedInverseStd[c] = Float(1 / (variance + Double(eps)).squareRoot())
        }
        savedMean.withUnsafeBufferPointer { mean in
            savedInverseStd.withUnsafeBufferPointer { inverseStd in
                context.compute.chunks(C) { range in
                    for n in 0..<batch {
                        for c in range {
                            let scale = weight[c] * inverseStd[c]
                            let shift = bias[c] - mean[c] * scale
                            Vector.affine(x + (n * C + c) * P, scale, shift, y + (n * C + c) * P, count: P)
                        }
                    }
                }
            }
        }
    }

    public func backward(
        _ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>, _ dy: UnsafePointer<Float>,
        _ dx: UnsafeMutablePointer<Float>?, batch: Int, context: LayerContext
    ) {
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
        sums.withUnsafeMutableBufferPointer { context.synchronize?($0) }
        guard let dx, savedCount > 0 else { return }
        let n = Double(savedCount)
        savedMean.withUnsafeBufferPointer { mean in
            savedInverseStd.withUnsafeBufferPointer { inverseStd in
                context.compute.chunks(C) { range in
                    for b in 0..<batch {
                        for c in range {
                            let scale = weight[c] * inverseStd[c]
                            let meanDy = Float(sums[c] / n), meanDyXhat = Float(sums[C + c] / n)
                            let offset = (b * C + c) * P
                            Vector.batchNormInputGradient(
                                dy + offset, x + offset, dx + offset, mean: mean[c], inverseStd: inverseStd[c],
                                scale: scale, meanDy: meanDy, meanDyXhat: meanDyXhat, count: P)
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
