/// PyTorch `nn.MaxPool2d(kernel, stride)` without padding, floor mode.
///
/// Forward: y[n, c, oh, ow] = max of the kernel x kernel window at (oh s, ow s); in
/// training mode the position of the FIRST maximum (row-major window order, as
/// PyTorch) is kept, and backward routes dy there: dx = 0, dx[argmax] += dy.
/// (NaN is not propagated specially; the trainer stops on NaN losses.)
public final class MaxPool2d: Layer {
    public let channels: Int, height: Int, width: Int
    public let kernel: Int, stride: Int
    public let outHeight: Int, outWidth: Int
    /// Per output: offset of the winning input within its plane.
    private var argmax: UnsafeMutablePointer<Int32>?
    private var capacity = 0

    public init(shape: [Int], kernel: Int, stride: Int? = nil) throws {
        guard shape.count == 3 else { throw ShapeError("MaxPool2d expects (C, H, W) input, got \(shape)") }
        channels = shape[0]; height = shape[1]; width = shape[2]
        self.kernel = kernel
        self.stride = stride ?? kernel
        guard kernel > 0, self.stride > 0, height >= kernel, width >= kernel else {
            throw ShapeError("MaxPool2d(kernel=\(kernel)) does not fit input \(shape)")
        }
        outHeight = (height - kernel) / self.stride + 1
        outWidth = (width - kernel) / self.stride + 1
    }
    deinit { argmax?.deallocate() }

    public var inputShape: [Int] { [channels, height, width] }
    public var outputShape: [Int] { [channels, outHeight, outWidth] }
    public var description: String { "MaxPool2d(kernel_size=\(kernel), stride=\(stride), padding=0)" }

    public func reserve(maxBatch: Int) {
        let needed = maxBatch * outputSize
        guard needed > capacity else { return }
        argmax?.deallocate()
        argmax = .allocate(capacity: needed)
        capacity = needed
    }

    public func forward(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, batch: Int, context: LayerContext) {
        precondition(batch * outputSize <= capacity, "MaxPool2d: reserve(maxBatch:) first")
        guard let argmax else { return }
        let planeIn = height * width, planeOut = outHeight * outWidth
        let (k, s, w, oW) = (kernel, stride, width, outWidth)
        context.compute.chunks(batch * channels, minimumPerChunk: 32) { planes in
            for plane in planes {
                let src = x + plane * planeIn
                let dst = y + plane * planeOut
                let idx = argmax + plane * planeOut
                if k == 2 && s == 2 {
                    // Selects only (no data-dependent branches); strict > keeps the first maximum.
                    for oh in 0..<outHeight {
                        let r0 = 2 * oh * w, r1 = r0 + w
                        var ow = 0
                        while ow + 8 <= oW {
                            MaxPool2d.pool8(src, rows: r0, r1, column: 2 * ow, into: dst + oh * oW + ow, idx + oh * oW + ow)
                            ow += 8
                        }
                        for ow in ow..<oW {
                            let c = 2 * ow
                            let a = src[r0 + c], b = src[r0 + c + 1], e = src[r1 + c], f = src[r1 + c + 1]
                            let top = b > a ? b : a, topIndex = b > a ? r0 + c + 1 : r0 + c
                            let bottom = f > e ? f : e, bottomIndex = f > e ? r1 + c + 1 : r1 + c
                            dst[oh * oW + ow] = bottom > top ? bottom : top
                            idx[oh * oW + ow] = Int32(truncatingIfNeeded: bottom > top ? bottomIndex : topIndex)
                        }
                    }
                    continue
                }
                for oh in 0..<outHeight {
                    for ow in 0..<oW {
                        let corner = oh * s * w + ow * s
                        var best = src[corner], bestIndex = corner
                        for i in 0..<k {
                            for j in 0..<k where src[corner + i * w + j] > best {
                                best = src[corner + i * w + j]
                                bestIndex = corner + i * w + j
                            }
                        }
                        dst[oh * oW + ow] = best
                        idx[oh * oW + ow] = Int32(truncatingIfNeeded: bestIndex)
                    }
                }
            }
        }
    }

    /// Eight 2x2 windows side by side, columns c ..< c + 16 of rows r0 and r1: the same
    /// comparisons as the scalar loop (a against b, e against f, then bottom against top),
    /// eight lanes at a time, the even and odd columns split apart.
    @inline(__always)
    private static func pool8(
        _ src: UnsafePointer<Float>, rows r0: Int, _ r1: Int, column c: Int, into dst: UnsafeMutablePointer<Float>,
        _ idx: UnsafeMutablePointer<Int32>
    ) {
        let upper = UnsafeRawPointer(src + r0 + c).loadUnaligned(as: SIMD16<Float>.self)
        let lower = UnsafeRawPointer(src + r1 + c).loadUnaligned(as: SIMD16<Float>.self)
        let (a, b, e, f) = (upper.evenHalf, upper.oddHalf, lower.evenHalf, lower.oddHalf)
        let topIsB = b .> a, bottomIsF = f .> e
        let top = a.replacing(with: b, where: topIsB), bottom = e.replacing(with: f, where: bottomIsF)
        let evenOffsets = SIMD8<Int32>(0, 2, 4, 6, 8, 10, 12, 14)  // a constant here, not a lazily made global
        let topBase = SIMD8<Int32>(repeating: Int32(truncatingIfNeeded: r0 + c)) &+ evenOffsets
        let bottomBase = SIMD8<Int32>(repeating: Int32(truncatingIfNeeded: r1 + c)) &+ evenOffsets
        let topIndex = topBase.replacing(with: topBase &+ 1, where: topIsB)
        let bottomIndex = bottomBase.replacing(with: bottomBase &+ 1, where: bottomIsF)
        let bottomWins = bottom .> top
        UnsafeMutableRawPointer(dst).storeBytes(of: top.replacing(with: bottom, where: bottomWins), as: SIMD8<Float>.self)
        UnsafeMutableRawPointer(idx).storeBytes(
            of: topIndex.replacing(with: bottomIndex, where: bottomWins), as: SIMD8<Int32>.self)
    }

    public func backward(
        _ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>, _ dy: UnsafePointer<Float>,
        _ dx: UnsafeMutablePointer<Float>?, batch: Int, context: LayerContext
    ) {
        guard let dx, let argmax else { return }
        let planeIn = height * width, planeOut = outHeight * outWidth
        context.compute.chunks(batch * channels, minimumPerChunk: 32) { planes in
            for plane in planes {
                let grad = dx + plane * planeIn
                grad.update(repeating: 0, count: planeIn)
                let d = dy + plane * planeOut
                let idx = argmax + plane * planeOut
                for o in 0..<planeOut { grad[Int(idx[o])] += d[o] }
            }
        }
    }
}
