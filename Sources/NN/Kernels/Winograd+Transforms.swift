/// The tile transforms of `WinogradPass` (see Winograd.swift for the algorithm): B^T d B
/// of the input, A^T M A of the output, A dY A^T of the output gradient, 8 tiles of a tile
/// row at a time in SIMD registers.
extension WinogradPass {
    // MARK: Transforms

    /// The input plane of channel c of tile row r's image (r / tilesHigh), and the plane's row
    /// where the tile row's patches start (m th - p; rows outside [0, H) are zero padding).
    @inline(__always)
    func patchRows(_ input: UnsafePointer<Float>, channel c: Int, tileRow r: Int) -> (plane: UnsafePointer<Float>, top: Int) {
        let n = r / tilesHigh, th = r % tilesHigh
        return (input + (n * inChannels + c) * height * width, tile * th - padding)
    }

    /// V[xi][c][k tilesWide + tw] = (B^T d B)[xi] for the tile (th, tw) of the k-th row of
    /// `rows`, input channel c.
    ///
    /// Two sets of row buffers take turns: the rows of B^T d of one tile row are written
    /// while the columns of the previous one are read, so that no load follows the stores
    /// it reads at once. A load that spans two recent stores, or a recent store and older
    /// data (with padding 1 every load here starts one float before the stored row), cannot
    /// take its data from the stores and waits until they reach the cache.
    func inputTransform(
        _ input: UnsafePointer<Float>, rows: Range<Int>, channels: Range<Int>, into v: UnsafeMutablePointer<Float>,
        buffers: UnsafeMutablePointer<Float>
    ) {
        let (w, p) = (width, padding)
        let second = buffers + secondRowSet
        @inline(__always) func sets(_ s: Int) -> UnsafeMutablePointer<Float> { s == 0 ? buffers : second }
        let zero = buffers + 6 * rowFloats
        // Padding columns stay zero: only [p, p + W) of the transformed rows is written below.
        sets(0).update(repeating: 0, count: 4 * rowFloats)
        sets(1).update(repeating: 0, count: 4 * rowFloats)
        zero.update(repeating: 0, count: rowFloats)
        let xiStride = inputPlane
        // Row a of B^T d times B, from the set `t`: columns 2 tw .. 2 tw + 3 of 8 tiles, then
        // d0 - d2, d1 + d2, d2 - d1, d1 - d3 into V[4 a + b] at `out`.
        @inline(__always) func columns(_ t: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>) {
            for chunk in 0..<chunks {
                for a in 0..<4 {
                    let tw0 = 8 * chunk, row = t + a * rowFloats
                    let low = load16(row + 2 * tw0), high = load16(row + 2 * tw0 + 2)
                    let d0 = low.evenHalf, d1 = low.oddHalf, d2 = high.evenHalf, d3 = high.oddHalf
                    let o = out + 4 * a * xiStride + tw0
                    store8(d0 - d2, o)
                    store8(d1 + d2, o + xiStride)
                    store8(d2 - d1, o + 2 * xiStride)
                    store8(d1 - d3, o + 3 * xiStride)
                }
            }
        }
        var previous: (set: Int, out: UnsafeMutablePointer<Float>)?
        var set = 0
        for c in channels {
            for (k, r) in rows.enumerated() {
                let (plane, top) = patchRows(input, channel: c, tileRow: r)
                func row(_ i: Int) -> UnsafePointer<Float> {
                    let ih = top + i
                    return ih >= 0 && ih < height ? plane + ih * w : UnsafePointer(zero)
                }
                // Rows of B^T d: d0 - d2, d1 + d2, d2 - d1, d1 - d3.
                let t = sets(set) + p
                WinogradPass.combineRows(
                    row(0), row(1), row(2), row(3), t, t + rowFloats, t + 2 * rowFloats, t + 3 * rowFloats, count: w)
                if let previous { columns(sets(previous.set), previous.out) }
                previous = (set, v + c * tileStride + k * tilesWide)
                set = 1 - set
            }
        }
        if let previous { columns(sets(previous.set), previous.out) }
    }

    /// t0 = a - c, t1 = b + c, t2 = c - b, t3 = b - d over `count` floats, in vectors only
    /// (down to 4 floats): the tail is one more vector ending at `count`, which recomputes a
    /// few floats with the same values. Scalar stores there would make the 16-float loads
    /// of the columns that follow wait for each of them.
    @inline(__always)
    private static func combineRows(
        _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ c: UnsafePointer<Float>, _ d: UnsafePointer<Float>,
        _ t0: UnsafeMutablePointer<Float>, _ t1: UnsafeMutablePointer<Float>, _ t2: UnsafeMutablePointer<Float>,
        _ t3: UnsafeMutablePointer<Float>, count: Int
    ) {
        @inline(__always) func combine<V: SIMD>(_: V.Type, at i: Int) where V.Scalar == Float {
            @inline(__always) func load(_ p: UnsafePointer<Float>) -> V { UnsafeRawPointer(p + i).loadUnaligned(as: V.self) }
            @inline(__always) func store(_ v: V, _ p: UnsafeMutablePointer<Float>) {
                UnsafeMutableRawPointer(p + i).storeBytes(of: v, as: V.self)
            }
            let va = load(a), vb = load(b), vc = load(c), vd = load(d)
            store(va - vc, t0)
            store(vb + vc, t1)
            store(vc - vb, t2)
            store(vb - vd, t3)
        }
        if count >= 16 {
            var i = 0
            while i + 16 <= count {
                combine(SIMD16<Float>.self, at: i)
                i += 16
            }
            if i < count { combine(SIMD16<Float>.self, at: count - 16) }
        } else if count >= 8 {
            combine(SIMD8<Float>.self, at: 0)
            if count > 8 { combine(SIMD8<Float>.self, at: count - 8) }
        } else if count >= 4 {
            combine(SIMD4<Float>.self, at: 0)
            if count > 4 { combine(SIMD4<Float>.self, at: count - 4) }
        } else {
            for i in 0..<count {
                t0[i] = a[i] - c[i]
                t1[i] = b[i] + c[i]
                t2[i] = c[i] - b[i]
                t3[i] = b[i] - d[i]
            }
        }
    }

    /// output tile (th, tw) of channel co = A^T M[.][co][tile] A (+ bias), exactly the
    /// outputs inside [Ho, Wo].
    func outputTransform(
        _ m: UnsafePointer<Float>, rows: Range<Int>, channels: Range<Int>, bias: UnsafePointer<Float>?,
        into output: UnsafeMutablePointer<Float>
    ) {
        let (cout, oH, oW) = (outChannels, outHeight, outWidth)
        let xiStride = outputPlane
        for co in channels {
            let b = SIMD8<Float>(repeating: bias?[co] ?? 0)
            for (k, r) in rows.enumerated() {
                let n = r / tilesHigh, th = r % tilesHigh
                let top = output + ((n * cout + co) * oH + 2 * th) * oW
                let hasBottom = 2 * th + 1 < oH
                let src = m + co * tileStride + k * tilesWide
                for chunk in 0..<chunks {
                    let tw0 = 8 * chunk
                    let s = src + tw0
                    // Column b of A^T M: (m0 + m1 + m2, m1 - m2 - m3) over the rows a.
                    @inline(__always) func rows(_ b: Int) -> (SIMD8<Float>, SIMD8<Float>) {
                        let m0 = load8(s + b * xiStride), m1 = load8(s + (4 + b) * xiStride)
                        let m2 = load8(s + (8 + b) * xiStride), m3 = load8(s + (12 + b) * xiStride)
                        return (m0 + m1 + m2, m1 - m2 - m3)
                    }
                    let (u0, l0) = rows(0), (u1, l1) = rows(1), (u2, l2) = rows(2), (u3, l3) = rows(3)
                    let y00 = u0 + u1 + u2 + b, y01 = u1 - u2 - u3 + b
                    let y10 = l0 + l1 + l2 + b, y11 = l1 - l2 - l3 + b
                    let column = 2 * tw0
                    let count = min(16, oW - column)
                    writeRow(interleave(y00, y01), top + column, count: count)
                    if hasBottom { writeRow(interleave(y10, y11), top + oW + column, count: count) }
                }
            }
        }
    }

    /// dM[xi][co][k tilesWide + tw] = (A dY A^T)[xi] for the 2x2 tile of dy (zero outside [Ho, Wo]).
    func gradientTransform(
        _ dy: UnsafePointer<Float>, rows: Range<Int>, channels: Range<Int>, into m: UnsafeMutablePointer<Float>,
        buffers: UnsafeMutablePointer<Float>
    ) {
        let (cout, oH, oW) = (outChannels, outHeight, outWidth)
        let top = buffers + 4 * rowFloats, bottom = buffers + 5 * rowFloats
        // Columns past Wo stay zero: only [0, Wo) is copied below.
        top.update(repeating: 0, count: 2 * rowFloats)
        let xiStride = outputPlane
        for co in channels {
            for (k, r) in rows.enumerated() {
                let n = r / tilesHigh, th = r % tilesHigh
                copyGradientRows(dy + (n * cout + co) * oH * oW, tileRow: th, height: oH, width: oW, into: top, bottom)
                let out = m + co * tileStride + k * tilesWide
                for chunk in 0..<chunks {
                    let tw0 = 8 * chunk
                    let upper = load16(top + 2 * tw0), lower = load16(bottom + 2 * tw0)
                    let d00 = upper.evenHalf, d01 = upper.oddHalf, d10 = lower.evenHalf, d11 = lower.oddHalf
                    // Rows of A dY: (d00, d01), (d00 + d10, d01 + d11), (d00 - d10, d01 - d11), (-d10, -d11);
                    // then each row (r0, r1) times A^T: r0, r0 + r1, r0 - r1, -r1.
                    @inline(__always) func store(_ a: Int, _ c0: SIMD8<Float>, _ c1: SIMD8<Float>) {
                        let o = out + 4 * a * xiStride + tw0
                        store8(c0, o)
                        store8(c0 + c1, o + xiStride)
                        store8(c0 - c1, o + 2 * xiStride)
                        store8(-c1, o + 3 * xiStride)
                    }
                    store(0, d00, d01)
                    store(1, d00 + d10, d01 + d11)
                    store(2, d00 - d10, d01 - d11)
                    store(3, -d10, -d11)
                }
            }
        }
    }
}


/// Copies rows 2 th and 2 th + 1 of a gradient plane (Ho x Wo), the rows that tile row th of
/// 2x2 output tiles covers, into `upper` and `lower` (the second zero past Ho).
@inline(__always)
func copyGradientRows(
    _ plane: UnsafePointer<Float>, tileRow th: Int, height oH: Int, width oW: Int,
    into upper: UnsafeMutablePointer<Float>, _ lower: UnsafeMutablePointer<Float>
) {
    upper.update(from: plane + 2 * th * oW, count: oW)
    if 2 * th + 1 < oH {
        lower.update(from: plane + (2 * th + 1) * oW, count: oW)
    } else {
        lower.update(repeating: 0, count: oW)
    }
}

@inline(__always)
func load16(_ p: UnsafePointer<Float>) -> SIMD16<Float> {
    UnsafeRawPointer(p).loadUnaligned(as: SIMD16<Float>.self)
}

@inline(__always)
func load8(_ p: UnsafePointer<Float>) -> SIMD8<Float> {
    UnsafeRawPointer(p).loadUnaligned(as: SIMD8<Float>.self)
}

@inline(__always)
func store16(_ v: SIMD16<Float>, _ p: UnsafeMutablePointer<Float>) {
    UnsafeMutableRawPointer(p).storeBytes(of: v, as: SIMD16<Float>.self)
}

@inline(__always)
func store8(_ v: SIMD8<Float>, _ p: UnsafeMutablePointer<Float>) {
    UnsafeMutableRawPointer(p).storeBytes(of: v, as: SIMD8<Float>.self)
}

/// (a0, b0, a1, b1, ..., a7, b7)
@inline(__always)
func interleave(_ a: SIMD8<Float>, _ b: SIMD8<Float>) -> SIMD16<Float> {
    SIMD16(a[0], b[0], a[1], b[1], a[2], b[2], a[3], b[3], a[4], b[4], a[5], b[5], a[6], b[6], a[7], b[7])
}

/// Stores the first `count` floats of `v` (all 16 with one store when they fit, else in
/// pieces of 8, 4 and single floats).
@inline(__always)
func writeRow(_ v: SIMD16<Float>, _ p: UnsafeMutablePointer<Float>, count: Int) {
    if count >= 16 {
        store16(v, p)
    } else {
        writeRow16(v, p, count: count)
    }
}
