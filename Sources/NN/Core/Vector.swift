/// Explicitly vectorized elementwise kernels (16 floats per iteration, scalar tail).
///
/// Written with SIMD types because the optimizer does not vectorize these loops
/// reliably when input and output pointers might alias.
public enum Vector {
    @inline(__always)
    static func load(_ p: UnsafePointer<Float>) -> SIMD16<Float> {
        UnsafeRawPointer(p).loadUnaligned(as: SIMD16<Float>.self)
    }

    @inline(__always)
    static func store(_ v: SIMD16<Float>, _ p: UnsafeMutablePointer<Float>) {
        UnsafeMutableRawPointer(p).storeBytes(of: v, as: SIMD16<Float>.self)
    }

    /// y[i] = max(x[i], 0)
    public static func relu(
        _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, count: Int, compute: Compute
    ) {
        compute.chunks(count / 16, minimumPerChunk: 4096) { range in
            let zero = SIMD16<Float>(repeating: 0)
            for block in range {
                let v = load(x + block * 16)
                store(v.replacing(with: zero, where: v .< zero), y + block * 16)
            }
        }
        // Same NaN behaviour as the SIMD part (and PyTorch): NaN stays NaN.
        for i in (count / 16 * 16)..<count { y[i] = x[i] < 0 ? 0 : x[i] }
    }

    /// dx[i] = y[i] > 0 ? dy[i] : 0
    public static func reluBackward(
        _ y: UnsafePointer<Float>, _ dy: UnsafePointer<Float>, _ dx: UnsafeMutablePointer<Float>, count: Int,
        compute: Compute
    ) {
        compute.chunks(count / 16, minimumPerChunk: 4096) { range in
            let zero = SIMD16<Float>(repeating: 0)
            for block in range {
                let mask = load(y + block * 16) .> zero
                store(zero.replacing(with: load(dy + block * 16), where: mask), dx + block * 16)
            }
        }
        for i in (count / 16 * 16)..<count { dx[i] = y[i] > 0 ? dy[i] : 0 }
    }

    /// y[i] = x[i] + b
    @inline(__always)
    public static func addScalar(_ x: UnsafePointer<Float>, _ b: Float, _ y: UnsafeMutablePointer<Float>, count: Int) {
        let bv = SIMD16<Float>(repeating: b)
        var i = 0
        while i + 16 <= count {
            store(load(x + i) + bv, y + i)
            i += 16
        }
        while i < count {
            y[i] = x[i] + b
            i += 1
        }
    }

    /// Returns sum(x[i]) after copying x into y (one pass for transposes that also reduce).
    @inline(__always)
    public static func copySum(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, count: Int) -> Float {
        var acc = SIMD16<Float>(repeating: 0)
        var i = 0
        while i + 16 <= count {
            let v = load(x + i)
            store(v, y + i)
            acc += v
            i += 16
        }
        var sum = acc.sum()
        while i < count {
            y[i] = x[i]
            sum += x[i]
            i += 1
        }
        return sum
    }

    /// y[i] += x[i]
    @inline(__always)
    public static func accumulate(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, count: Int) {
        var i = 0
        while i + 16 <= count {
            store(load(y + i) + load(x + i), y + i)
            i += 16
        }
        while i < count {
            y[i] += x[i]
            i += 1
        }
    }

    /// y[i] = x[i] * scale + shift
    @inline(__always)
    public static func affine(
        _ x: UnsafePointer<Float>, _ scale: Float, _ shift: Float, _ y: UnsafeMutablePointer<Float>, count: Int
    ) {
        let sv = SIMD16<Float>(repeating: scale), bv = SIMD16<Float>(repeating: shift)
        var i = 0
        while i + 16 <= count {
            store(load(x + i) * sv + bv, y + i)
            i += 16
        }
        while i < count {
            y[i] = x[i] * scale + shift
            i += 1
        }
    }

    /// (Σ (x[i] - shift), Σ (x[i] - shift)²)
    @inline(__always)
    public static func shiftedSums(_ x: UnsafePointer<Float>, shift: Float, count: Int) -> (Float, Float) {
        let r = SIMD16<Float>(repeating: shift)
        var s1 = SIMD16<Float>(repeating: 0), s2 = SIMD16<Float>(repeating: 0)
        var i = 0
        while i + 16 <= count {
            let d = load(x + i) - r
            s1 += d
            s2 += d * d
            i += 16
        }
        var a = s1.sum(), b = s2.sum()
        while i < count {
            let d = x[i] - shift
            a += d
            b += d * d
            i += 1
        }
        return (a, b)
    }

    /// (Σ dy[i], Σ dy[i] · x̂[i]) with x̂[i] = (x[i] - mean) · inverseStd.
    @inline(__always)
    public static func normalizedDotSums(
        _ dy: UnsafePointer<Float>, _ x: UnsafePointer<Float>, mean: Float, inverseStd: Float, count: Int
    ) -> (Float, Float) {
        let m = SIMD16<Float>(repeating: mean), k = SIMD16<Float>(repeating: inverseStd)
        var s1 = SIMD16<Float>(repeating: 0), s2 = SIMD16<Float>(repeating: 0)
        var i = 0
        while i + 16 <= count {
            let g = load(dy + i)
            s1 += g
            s2 += g * ((load(x + i) - m) * k)
            i += 16
        }
        var a = s1.sum(), b = s2.sum()
        while i < count {
            a += dy[i]
            b += dy[i] * ((x[i] - mean) * inverseStd)
            i += 1
        }
        return (a, b)
    }

    /// dx[i] = scale · (dy[i] - meanDy - x̂[i] · meanDyXhat), x̂[i] = (x[i] - mean) · inverseStd
    /// (the BatchNorm input gradient, scale = weight · inverseStd).
    @inline(__always)
    public static func batchNormInputGradient(
        _ dy: UnsafePointer<Float>, _ x: UnsafePointer<Float>, _ dx: UnsafeMutablePointer<Float>, mean: Float,
        inverseStd: Float, scale: Float, meanDy: Float, meanDyXhat: Float, count: Int
    ) {
        let m = SIMD16<Float>(repeating: mean), k = SIMD16<Float>(repeating: inverseStd)
        let sv = SIMD16<Float>(repeating: scale), md = SIMD16<Float>(repeating: meanDy)
        let mx = SIMD16<Float>(repeating: meanDyXhat)
        var i = 0
        while i + 16 <= count {
            let xhat = (load(x + i) - m) * k
            store(sv * (load(dy + i) - md - xhat * mx), dx + i)
            i += 16
        }
        while i < count {
            let xhat = (x[i] - mean) * inverseStd
            dx[i] = scale * (dy[i] - meanDy - xhat * meanDyXhat)
            i += 1
        }
    }

    /// y[i] = max(a[i] + b[i], 0) (a residual sum through ReLU).
    @inline(__always)
    public static func addRelu(
        _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, count: Int
    ) {
        let zero = SIMD16<Float>(repeating: 0)
        var i = 0
        while i + 16 <= count {
            let v = load(a + i) + load(b + i)
            store(v.replacing(with: zero, where: v .< zero), y + i)
            i += 16
        }
        while i < count {
            let v = a[i] + b[i]
            y[i] = v < 0 ? 0 : v
            i += 1
        }
    }

    /// sum(x[i])
    @inline(__always)
    public static func sum(_ x: UnsafePointer<Float>, count: Int) -> Float {
        var acc = SIMD16<Float>(repeating: 0)
        var i = 0
        while i + 16 <= count {
            acc += load(x + i)
            i += 16
        }
        var sum = acc.sum()
        while i < count {
            sum += x[i]
            i += 1
        }
        return sum
    }
}
