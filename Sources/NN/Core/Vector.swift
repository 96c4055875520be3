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
}
