/// The tile transforms of `WinogradPass` with `tile` 4: Winograd F(4x4, 3x3) (Lavin & Gray,
/// 2016, interpolation points 0, +-1, +-2), 8 tiles of a tile row at a time in SIMD registers.
///
///   B^T = [4  0 -5  0  1  0]   G = [ 1/4    0     0  ]   A^T = [1 1  1 1  1 0]
///         [0 -4 -4  1  1  0]       [-1/6  -1/6  -1/6 ]         [0 1 -1 2 -2 0]
///         [0  4 -4 -1  1  0]       [-1/6   1/6  -1/6 ]         [0 1  1 4  4 0]
///         [0 -2 -1  2  1  0]       [1/24  1/12  1/6  ]         [0 1 -1 8 -8 1]
///         [0  2 -1 -2  1  0]       [1/24 -1/12  1/6  ]
///         [0  4  0 -5  0  1]       [ 0     0     1   ]
///
/// Position xi = 6 a + b holds row a, column b of a tile's 6x6 transform. A 32-float load of
/// a row split four ways (even/odd twice) gives columns 4 tw + j, j < 4, of 8 neighbouring
/// tiles; a second load 4 floats on gives j = 4 and 5.
extension WinogradPass {
    /// V[xi][c][k tilesWide + tw] = (B^T d B)[xi] for the 6x6 patch d of tile (th, tw) of the
    /// k-th row of `rows`, input channel c.
    func inputTransform4(
        _ input: UnsafePointer<Float>, rows: Range<Int>, channels: Range<Int>, into v: UnsafeMutablePointer<Float>,
        buffers: UnsafeMutablePointer<Float>
    ) {
        if groupedRows > 1 { return groupedInputTransform4(input, rows: rows, channels: channels, into: v, buffers: buffers) }
        let stride = rowFloats
        let t0 = buffers, t1 = buffers + stride, t2 = buffers + 2 * stride
        let t3 = buffers + 3 * stride, t4 = buffers + 4 * stride, t5 = buffers + 5 * stride
        let zero = buffers + 10 * stride
        // Padding columns stay zero: only [p, p + W) of the transformed rows is written below.
        buffers.update(repeating: 0, count: 6 * stride)
        zero.update(repeating: 0, count: stride)
        let xiStride = inputPlane
        for c in channels {
            for (k, r) in rows.enumerated() {
                transformedInputRows4(input, channel: c, tileRow: r, into: buffers, zero: zero)
                let out = v + c * tileStride + k * tilesWide
                // Row a of B^T d times B: columns 4 tw .. 4 tw + 5 of 8 tiles into V[6 a + b].
                @inline(__always) func columns(_ a: Int, _ t: UnsafePointer<Float>, _ tw0: Int) {
                    let (d0, d1, d2, d3) = split4(t + 4 * tw0)
                    let next = load32(t + 4 * tw0 + 4)
                    let b = bt6(d0, d1, d2, d3, everyFourth(next, 0), everyFourth(next, 1))
                    store8x6(b, out + 6 * a * xiStride + tw0, stride: xiStride)
                }
                for chunk in 0..<chunks {
                    columns(0, t0, 8 * chunk)
                    columns(1, t1, 8 * chunk)
                    columns(2, t2, 8 * chunk)
                    columns(3, t3, 8 * chunk)
                    columns(4, t4, 8 * chunk)
                    columns(5, t5, 8 * chunk)
                }
            }
        }
    }

    /// Rows a < 6 of B^T d for tile row r of channel c: row a at `t` + a rowFloats, input
    /// column i at padded column p + i (the padding columns are left as they are: zero).
    @inline(__always)
    func transformedInputRows4(
        _ input: UnsafePointer<Float>, channel c: Int, tileRow r: Int, into t: UnsafeMutablePointer<Float>,
        zero: UnsafePointer<Float>
    ) {
        let (w, p, stride) = (width, padding, rowFloats)
        let t0 = t + p, t1 = t0 + stride, t2 = t0 + 2 * stride, t3 = t0 + 3 * stride, t4 = t0 + 4 * stride
        let t5 = t0 + 5 * stride
        let (plane, top) = patchRows(input, channel: c, tileRow: r)
        func row(_ i: Int) -> UnsafePointer<Float> {
            let ih = top + i
            return ih >= 0 && ih < height ? plane + ih * w : zero
        }
        let d = (row(0), row(1), row(2), row(3), row(4), row(5))
        var i = 0
        while i + 8 <= w {
            let b = bt6(load8(d.0 + i), load8(d.1 + i), load8(d.2 + i), load8(d.3 + i), load8(d.4 + i), load8(d.5 + i))
            store8(b.0, t0 + i)
            store8(b.1, t1 + i)
            store8(b.2, t2 + i)
            store8(b.3, t3 + i)
            store8(b.4, t4 + i)
            store8(b.5, t5 + i)
            i += 8
        }
        if i + 4 <= w {
            // Narrow planes (4x4 to 7x7): 4 columns in the low half of the vectors.
            @inline(__always) func load4(_ p: UnsafePointer<Float>) -> SIMD8<Float> {
                SIMD8(lowHalf: UnsafeRawPointer(p + i).loadUnaligned(as: SIMD4<Float>.self), highHalf: .zero)
            }
            @inline(__always) func store4(_ v: SIMD8<Float>, _ p: UnsafeMutablePointer<Float>) {
                UnsafeMutableRawPointer(p + i).storeBytes(of: v.lowHalf, as: SIMD4<Float>.self)
            }
            let b = bt6(load4(d.0), load4(d.1), load4(d.2), load4(d.3), load4(d.4), load4(d.5))
            store4(b.0, t0)
            store4(b.1, t1)
            store4(b.2, t2)
            store4(b.3, t3)
            store4(b.4, t4)
            store4(b.5, t5)
            i += 4
        }
        while i < w {
            let b = bt6(
                SIMD8(repeating: d.0[i]), SIMD8(repeating: d.1[i]), SIMD8(repeating: d.2[i]),
                SIMD8(repeating: d.3[i]), SIMD8(repeating: d.4[i]), SIMD8(repeating: d.5[i]))
            t0[i] = b.0[0]
            t1[i] = b.1[0]
            t2[i] = b.2[0]
            t3[i] = b.3[0]
            t4[i] = b.4[0]
            t5[i] = b.5[0]
            i += 1
        }
    }

    /// Output tile (th, tw) of channel co = A^T M[.][co][tile] A (+ bias), exactly the outputs
    /// inside [Ho, Wo].
    func outputTransform4(
        _ m: UnsafePointer<Float>, rows: Range<Int>, channels: Range<Int>, bias: UnsafePointer<Float>?,
        into output: UnsafeMutablePointer<Float>, buffers: UnsafeMutablePointer<Float>
    ) {
        if groupedRows > 1 {
            return groupedOutputTransform4(m, rows: rows, channels: channels, bias: bias, into: output, buffers: buffers)
        }
        let (cout, oH, oW) = (outChannels, outHeight, outWidth)
        let xiStride = outputPlane
        for co in channels {
            let b = SIMD8<Float>(repeating: bias?[co] ?? 0)
            for (k, r) in rows.enumerated() {
                let n = r / tilesHigh, th = r % tilesHigh
                let top = output + ((n * cout + co) * oH + 4 * th) * oW
                let outRows = min(4, oH - 4 * th)
                let src = m + co * tileStride + k * tilesWide
                for chunk in 0..<chunks {
                    let tw0 = 8 * chunk
                    let y = outputRows4(src + tw0, xiStride: xiStride, bias: b)
                    let x = 4 * tw0
                    let count = min(32, oW - x)
                    writeRow32(y.0, top + x, count: count)
                    if outRows > 1 { writeRow32(y.1, top + oW + x, count: count) }
                    if outRows > 2 { writeRow32(y.2, top + 2 * oW + x, count: count) }
                    if outRows > 3 { writeRow32(y.3, top + 3 * oW + x, count: count) }
                }
            }
        }
    }

    /// dM[xi][co][k tilesWide + tw] = (A dY A^T)[xi] for the 4x4 tile of dy (zero outside [Ho, Wo]).
    func gradientTransform4(
        _ dy: UnsafePointer<Float>, rows: Range<Int>, channels: Range<Int>, into m: UnsafeMutablePointer<Float>,
        buffers: UnsafeMutablePointer<Float>
    ) {
        if groupedRows > 1 { return groupedGradientTransform4(dy, rows: rows, channels: channels, into: m, buffers: buffers) }
        let (cout, oH, oW) = (outChannels, outHeight, outWidth)
        let stride = rowFloats
        let g0 = buffers + 6 * stride, g1 = buffers + 7 * stride, g2 = buffers + 8 * stride, g3 = buffers + 9 * stride
        // Columns past Wo stay zero: only [0, Wo) is copied below.
        g0.update(repeating: 0, count: 4 * stride)
        let xiStride = outputPlane
        for co in channels {
            for (k, r) in rows.enumerated() {
                let n = r / tilesHigh, th = r % tilesHigh
                let plane = dy + (n * cout + co) * oH * oW
                @inline(__always) func copy(_ i: Int, into g: UnsafeMutablePointer<Float>) {
                    let oh = 4 * th + i
                    if oh < oH {
                        g.update(from: plane + oh * oW, count: oW)
                    } else {
                        g.update(repeating: 0, count: oW)
                    }
                }
                copy(0, into: g0)
                copy(1, into: g1)
                copy(2, into: g2)
                copy(3, into: g3)
                let out = m + co * tileStride + k * tilesWide
                for chunk in 0..<chunks {
                    let tw0 = 8 * chunk
                    gradientTiles4(g0 + 4 * tw0, g1 + 4 * tw0, g2 + 4 * tw0, g3 + 4 * tw0, into: out + tw0, xiStride: xiStride)
                }
            }
        }
    }

    /// dW[o, i] += G^T dU[o, i] G for F(4x4): weights [Cout, Cin, 3, 3], dU [36][Cout][Cin]
    /// (planes `weightPlane` apart), eight input channels at a time.
    static func accumulateWeightGradient4(
        _ du: UnsafePointer<Float>, outChannels: Int, inChannels: Int, into dw: UnsafeMutablePointer<Float>,
        compute: Compute
    ) {
        let plane = weightPlane(inChannels: inChannels, outChannels: outChannels)
        compute.chunks(outChannels, minimumPerChunk: 16) { range in
            for o in range {
                var i = 0
                while i < inChannels {
                    let lanes = min(8, inChannels - i)
                    let src = du + o * inChannels + i
                    @inline(__always) func u(_ xi: Int) -> SIMD8<Float> {
                        if lanes == 8 { return load8(src + xi * plane) }
                        var v = SIMD8<Float>()
                        for lane in 0..<lanes { v[lane] = src[xi * plane + lane] }
                        return v
                    }
                    // Column b of G^T dU (3 rows), then row j of that times G.
                    @inline(__always) func column(_ b: Int) -> (SIMD8<Float>, SIMD8<Float>, SIMD8<Float>) {
                        gt6(u(b), u(6 + b), u(12 + b), u(18 + b), u(24 + b), u(30 + b))
                    }
                    let c0 = column(0), c1 = column(1), c2 = column(2), c3 = column(3), c4 = column(4), c5 = column(5)
                    let w0 = gt6(c0.0, c1.0, c2.0, c3.0, c4.0, c5.0)
                    let w1 = gt6(c0.1, c1.1, c2.1, c3.1, c4.1, c5.1)
                    let w2 = gt6(c0.2, c1.2, c2.2, c3.2, c4.2, c5.2)
                    for lane in 0..<lanes {
                        let out = dw + (o * inChannels + i + lane) * 9
                        out[0] += w0.0[lane]
                        out[1] += w0.1[lane]
                        out[2] += w0.2[lane]
                        out[3] += w1.0[lane]
                        out[4] += w1.1[lane]
                        out[5] += w1.2[lane]
                        out[6] += w2.0[lane]
                        out[7] += w2.1[lane]
                        out[8] += w2.2[lane]
                    }
                    i += lanes
                }
            }
        }
    }
}

// MARK: 8 tiles at a time

/// Rows i < 4 of 8 output tiles, A^T M A + b, from M at `s` (position xi at s + xi xiStride,
/// tile q in lane q): row i of tile q at floats 4 q ..< 4 q + 4 of the i-th vector.
@inline(__always)
func outputRows4(
    _ s: UnsafePointer<Float>, xiStride: Int, bias b: SIMD8<Float>
) -> (SIMD32<Float>, SIMD32<Float>, SIMD32<Float>, SIMD32<Float>) {
    // Column c of A^T M: A^T over the rows a of M[6 a + c]; then row i: A^T over the columns.
    @inline(__always) func column(_ c: Int) -> (SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>) {
        at6(
            load8(s + c * xiStride), load8(s + (6 + c) * xiStride), load8(s + (12 + c) * xiStride),
            load8(s + (18 + c) * xiStride), load8(s + (24 + c) * xiStride), load8(s + (30 + c) * xiStride))
    }
    let c0 = column(0), c1 = column(1), c2 = column(2), c3 = column(3), c4 = column(4), c5 = column(5)
    @inline(__always) func row(_ y: (SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>)) -> SIMD32<Float> {
        interleave4(y.0 + b, y.1 + b, y.2 + b, y.3 + b)
    }
    return (
        row(at6(c0.0, c1.0, c2.0, c3.0, c4.0, c5.0)), row(at6(c0.1, c1.1, c2.1, c3.1, c4.1, c5.1)),
        row(at6(c0.2, c1.2, c2.2, c3.2, c4.2, c5.2)), row(at6(c0.3, c1.3, c2.3, c3.3, c4.3, c5.3))
    )
}

/// dM = A dY A^T of 8 tiles whose 4 dy rows are at g0 ... g3 (4 floats a tile) into
/// out + xi xiStride, lane q for tile q.
@inline(__always)
func gradientTiles4(
    _ g0: UnsafePointer<Float>, _ g1: UnsafePointer<Float>, _ g2: UnsafePointer<Float>, _ g3: UnsafePointer<Float>,
    into out: UnsafeMutablePointer<Float>, xiStride: Int
) {
    let d0 = split4(g0), d1 = split4(g1), d2 = split4(g2), d3 = split4(g3)
    // Column c of A dY: A over the rows; then each row a of it times A^T into dM[6 a + b].
    let e0 = a4(d0.0, d1.0, d2.0, d3.0), e1 = a4(d0.1, d1.1, d2.1, d3.1)
    let e2 = a4(d0.2, d1.2, d2.2, d3.2), e3 = a4(d0.3, d1.3, d2.3, d3.3)
    @inline(__always) func store(_ a: Int, _ v: Float8x6) { store8x6(v, out + 6 * a * xiStride, stride: xiStride) }
    store(0, a4(e0.0, e1.0, e2.0, e3.0))
    store(1, a4(e0.1, e1.1, e2.1, e3.1))
    store(2, a4(e0.2, e1.2, e2.2, e3.2))
    store(3, a4(e0.3, e1.3, e2.3, e3.3))
    store(4, a4(e0.4, e1.4, e2.4, e3.4))
    store(5, a4(e0.5, e1.5, e2.5, e3.5))
}

// MARK: The 1-D transforms, on 8 tiles (or kernels) at a time

typealias Float8x6 = (SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>)

/// B^T d for d = (d0 ... d5).
@inline(__always)
func bt6(
    _ d0: SIMD8<Float>, _ d1: SIMD8<Float>, _ d2: SIMD8<Float>, _ d3: SIMD8<Float>, _ d4: SIMD8<Float>,
    _ d5: SIMD8<Float>
) -> Float8x6 {
    let s = d4 - 4 * d2, q = d3 - 4 * d1
    let e = d4 - d2, f = 2 * (d3 - d1)
    return (4 * d0 - 5 * d2 + d4, s + q, s - q, e + f, e - f, 4 * d1 - 5 * d3 + d5)
}

/// A^T m for m = (m0 ... m5): 4 values.
@inline(__always)
func at6(
    _ m0: SIMD8<Float>, _ m1: SIMD8<Float>, _ m2: SIMD8<Float>, _ m3: SIMD8<Float>, _ m4: SIMD8<Float>,
    _ m5: SIMD8<Float>
) -> (SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>) {
    let s12 = m1 + m2, d12 = m1 - m2, s34 = m3 + m4, d34 = m3 - m4
    return (m0 + s12 + s34, d12 + 2 * d34, s12 + 4 * s34, d12 + 8 * d34 + m5)
}

/// A d for d = (d0 ... d3): 6 values.
@inline(__always)
func a4(_ d0: SIMD8<Float>, _ d1: SIMD8<Float>, _ d2: SIMD8<Float>, _ d3: SIMD8<Float>) -> Float8x6 {
    let s02 = d0 + d2, s13 = d1 + d3, q02 = d0 + 4 * d2, q13 = 2 * d1 + 8 * d3
    return (d0, s02 + s13, s02 - s13, q02 + q13, q02 - q13, d3)
}

/// G x for x = (x0, x1, x2): 6 values.
@inline(__always)
func g6(_ x0: SIMD8<Float>, _ x1: SIMD8<Float>, _ x2: SIMD8<Float>) -> Float8x6 {
    let e = x0 + x2
    let f = x0 * (1 / 24 as Float) + x2 * (1 / 6 as Float), h = x1 * (1 / 12 as Float)
    return (x0 * 0.25, (e + x1) * (-1 / 6 as Float), (e - x1) * (-1 / 6 as Float), f + h, f - h, x2)
}

/// G^T u for u = (u0 ... u5): 3 values.
@inline(__always)
func gt6(
    _ u0: SIMD8<Float>, _ u1: SIMD8<Float>, _ u2: SIMD8<Float>, _ u3: SIMD8<Float>, _ u4: SIMD8<Float>,
    _ u5: SIMD8<Float>
) -> (SIMD8<Float>, SIMD8<Float>, SIMD8<Float>) {
    let s12 = u1 + u2, s34 = u3 + u4
    return (
        u0 * 0.25 - s12 * (1 / 6 as Float) + s34 * (1 / 24 as Float),
        (u2 - u1) * (1 / 6 as Float) + (u3 - u4) * (1 / 12 as Float),
        (s34 - s12) * (1 / 6 as Float) + u5
    )
}

// MARK: Loads and stores

/// Stores the six vectors of `v` at p, p + stride, ... p + 5 stride.
@inline(__always)
func store8x6(_ v: Float8x6, _ p: UnsafeMutablePointer<Float>, stride: Int) {
    store8(v.0, p)
    store8(v.1, p + stride)
    store8(v.2, p + 2 * stride)
    store8(v.3, p + 3 * stride)
    store8(v.4, p + 4 * stride)
    store8(v.5, p + 5 * stride)
}

@inline(__always)
func load32(_ p: UnsafePointer<Float>) -> SIMD32<Float> {
    UnsafeRawPointer(p).loadUnaligned(as: SIMD32<Float>.self)
}

/// Columns 4 i + j, j = 0 ... 3, of the 32 floats at p: column j of 8 neighbouring 4-wide tiles.
@inline(__always)
func split4(_ p: UnsafePointer<Float>) -> (SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>) {
    let x = load32(p)
    return (everyFourth(x, 0), everyFourth(x, 1), everyFourth(x, 2), everyFourth(x, 3))
}

/// Lanes j, j + 4, ..., j + 28 of x: column j of 8 neighbouring 4-wide tiles. Built lane by
/// lane: the standard library's `evenHalf`, with enough callers, stops being inlined and
/// becomes a function call per shuffle (measured: 8-10% of an F(4x4) layer).
@inline(__always)
func everyFourth(_ x: SIMD32<Float>, _ j: Int) -> SIMD8<Float> {
    SIMD8(x[j], x[j + 4], x[j + 8], x[j + 12], x[j + 16], x[j + 20], x[j + 24], x[j + 28])
}

/// (a0, b0, c0, d0, a1, b1, c1, d1, ..., a7, b7, c7, d7)
@inline(__always)
func interleave4(_ a: SIMD8<Float>, _ b: SIMD8<Float>, _ c: SIMD8<Float>, _ d: SIMD8<Float>) -> SIMD32<Float> {
    SIMD32(
        a[0], b[0], c[0], d[0], a[1], b[1], c[1], d[1], a[2], b[2], c[2], d[2], a[3], b[3], c[3], d[3],
        a[4], b[4], c[4], d[4], a[5], b[5], c[5], d[5], a[6], b[6], c[6], d[6], a[7], b[7], c[7], d[7])
}

/// Stores the first `count` floats of `v`: whole 16-, 8- and 4-float pieces with vector
/// stores (narrow planes end on a whole tile), then single floats.
@inline(__always)
func writeRow32(_ v: SIMD32<Float>, _ p: UnsafeMutablePointer<Float>, count: Int) {
    if count >= 32 {
        UnsafeMutableRawPointer(p).storeBytes(of: v, as: SIMD32<Float>.self)
    } else if count >= 16 {
        store16(v.lowHalf, p)
        writeRow16(v.highHalf, p + 16, count: count - 16)
    } else {
        writeRow16(v.lowHalf, p, count: count)
    }
}

/// Stores the first `count` floats of `v` in pieces of 8, 4 and single floats.
@inline(__always)
func writeRow16(_ v: SIMD16<Float>, _ p: UnsafeMutablePointer<Float>, count: Int) {
    if count >= 8 {
        store8(v.lowHalf, p)
        writeRow8(v.highHalf, p + 8, count: count - 8)
    } else {
        writeRow8(v.lowHalf, p, count: count)
    }
}

@inline(__always)
private func writeRow8(_ v: SIMD8<Float>, _ p: UnsafeMutablePointer<Float>, count: Int) {
    if count >= 8 {
        store8(v, p)
        return
    }
    var rest = v.lowHalf, q = p, left = count
    if left >= 4 {
        UnsafeMutableRawPointer(q).storeBytes(of: rest, as: SIMD4<Float>.self)
        rest = v.highHalf
        q += 4
        left -= 4
    }
    for i in 0..<left { q[i] = rest[i] }
}
