/// F(4x4, 3x3) transforms of `WinogradPass` for narrow planes (fewer than 8 tiles per tile
/// row): the 8 SIMD lanes run over 8 consecutive tiles of a block, across tile rows and
/// images, instead of over the tiles of one row (at 8x8 outputs a row holds 2 tiles, so the
/// per-row transforms fill 2 lanes of 8; at 4x4, 1).
///
/// A group of `groupedRows` tile rows holds a multiple of 8 tiles (lcm(8, tilesWide)). Each
/// row's transformed input rows (or dy rows) are copied side by side into group buffers, 4
/// floats a tile, so that the 32-float loads split four ways give the same 4 columns of 8
/// tiles as within one wide row. Every tile goes through the same arithmetic as on the
/// per-row path, so V, dM and the outputs are the same bits either way.
extension WinogradPass {
    /// Tile rows per group: lcm(8, tilesWide) / tilesWide where a row holds fewer than 8 tiles
    /// (F(4x4)), else 1 (the per-row transforms).
    static func groupedRows(tile: Int, tilesWide: Int) -> Int {
        guard tile == 4, tilesWide < 8 else { return 1 }
        var (a, b) = (8, tilesWide)
        while b != 0 { (a, b) = (b, a % b) }
        return 8 / a
    }

    /// Floats of one group buffer: 4 per tile of a whole group.
    var groupFloats: Int { 4 * groupedRows * tilesWide }

    /// Group buffers, after the row buffers: A[a] (columns 4 tw ..< 4 tw + 4 of transformed row
    /// a), B[a] (columns 4 tw + 4 and 4 tw + 5) for a < 6, dy rows G[i] for i < 4, and 4 rows of
    /// 32 output floats.
    var groupBufferFloats: Int { groupedRows > 1 ? 16 * groupFloats + 128 : 0 }
    private func groupBuffer(_ buffers: UnsafeMutablePointer<Float>, _ index: Int) -> UnsafeMutablePointer<Float> {
        buffers + (alpha + tile + 1) * rowFloats + index * groupFloats
    }

    /// `inputTransform4` over groups of tile rows: V[xi][c][k tilesWide + tw] as there.
    func groupedInputTransform4(
        _ input: UnsafePointer<Float>, rows: Range<Int>, channels: Range<Int>, into v: UnsafeMutablePointer<Float>,
        buffers: UnsafeMutablePointer<Float>
    ) {
        let stride = rowFloats, span = 4 * tilesWide
        let t = buffers, groups = groupBuffer(buffers, 0), gf = groupFloats
        @inline(__always) func a(_ row: Int) -> UnsafeMutablePointer<Float> { groups + row * gf }
        @inline(__always) func b(_ row: Int) -> UnsafeMutablePointer<Float> { groups + (6 + row) * gf }
        let zero = buffers + 10 * stride
        buffers.update(repeating: 0, count: 6 * stride)
        zero.update(repeating: 0, count: stride)
        let xiStride = inputPlane
        for c in channels {
            forEachPiece(of: 0..<rows.count, atMost: groupedRows) { group in
                let (k0, k1) = (group.lowerBound, group.upperBound)
                for k in k0..<k1 {
                    transformedInputRows4(input, channel: c, tileRow: rows.lowerBound + k, into: t, zero: zero)
                    let at = span * (k - k0)
                    for row in 0..<6 {
                        copyFloats(t + row * stride, to: a(row) + at, count: span)
                        // Columns 4 tw + 4 and 4 tw + 5 of each tile, side by side.
                        let from = UnsafeRawPointer(t + row * stride + 4)
                        let to = UnsafeMutableRawPointer(b(row) + at / 2)
                        for tw in 0..<tilesWide {
                            let pair = from.loadUnaligned(fromByteOffset: 16 * tw, as: UInt64.self)
                            to.storeBytes(of: pair, toByteOffset: 8 * tw, as: UInt64.self)
                        }
                    }
                }
                let out = v + c * tileStride + k0 * tilesWide
                var q = 0
                while q < (k1 - k0) * tilesWide {
                    for row in 0..<6 {
                        let (d0, d1, d2, d3) = split4(a(row) + 4 * q)
                        let e = load16(b(row) + 2 * q)
                        let (d4, d5) = (everySecond(e, 0), everySecond(e, 1))
                        store8x6(bt6(d0, d1, d2, d3, d4, d5), out + 6 * row * xiStride + q, stride: xiStride)
                    }
                    q += 8
                }
            }
        }
    }

    /// `outputTransform4` over groups of tile rows.
    func groupedOutputTransform4(
        _ m: UnsafePointer<Float>, rows: Range<Int>, channels: Range<Int>, bias: UnsafePointer<Float>?,
        into output: UnsafeMutablePointer<Float>, buffers: UnsafeMutablePointer<Float>
    ) {
        let (cout, oH, oW) = (outChannels, outHeight, outWidth)
        let xiStride = outputPlane
        let staged = groupBuffer(buffers, 16)
        let tiles = rows.count * tilesWide
        for co in channels {
            let b = SIMD8<Float>(repeating: bias?[co] ?? 0)
            let src = m + co * tileStride
            var q0 = 0
            while q0 < tiles {
                let y = outputRows4(src + q0, xiStride: xiStride, bias: b)
                let stage = UnsafeMutableRawPointer(staged)
                stage.storeBytes(of: y.0, as: SIMD32<Float>.self)
                stage.storeBytes(of: y.1, toByteOffset: 128, as: SIMD32<Float>.self)
                stage.storeBytes(of: y.2, toByteOffset: 256, as: SIMD32<Float>.self)
                stage.storeBytes(of: y.3, toByteOffset: 384, as: SIMD32<Float>.self)
                // Row i of tile q is staged at 32 i + 4 (q - q0).
                for q in q0..<min(q0 + 8, tiles) {
                    let r = rows.lowerBound + q / tilesWide, tw = q % tilesWide
                    let n = r / tilesHigh, th = r % tilesHigh
                    let top = output + ((n * cout + co) * oH + 4 * th) * oW + 4 * tw
                    let count = min(4, oW - 4 * tw)
                    for i in 0..<min(4, oH - 4 * th) {
                        let from = staged + 32 * i + 4 * (q - q0), to = top + i * oW
                        copyFloats(from, to: to, count: count)
                    }
                }
                q0 += 8
            }
        }
    }

    /// `gradientTransform4` over groups of tile rows.
    func groupedGradientTransform4(
        _ dy: UnsafePointer<Float>, rows: Range<Int>, channels: Range<Int>, into m: UnsafeMutablePointer<Float>,
        buffers: UnsafeMutablePointer<Float>
    ) {
        let (cout, oH, oW) = (outChannels, outHeight, outWidth)
        let span = 4 * tilesWide
        let groups = groupBuffer(buffers, 12), gf = groupFloats
        @inline(__always) func g(_ i: Int) -> UnsafeMutablePointer<Float> { groups + i * gf }
        // Columns past Wo of every row stay zero: only [0, Wo) of each is written below.
        groups.update(repeating: 0, count: 4 * gf)
        let xiStride = outputPlane
        for co in channels {
            forEachPiece(of: 0..<rows.count, atMost: groupedRows) { group in
                let (k0, k1) = (group.lowerBound, group.upperBound)
                for k in k0..<k1 {
                    let r = rows.lowerBound + k
                    let n = r / tilesHigh, th = r % tilesHigh
                    let plane = dy + (n * cout + co) * oH * oW
                    for i in 0..<4 {
                        let to = g(i) + span * (k - k0), oh = 4 * th + i
                        if oh < oH {
                            copyFloats(plane + oh * oW, to: to, count: oW)
                        } else {
                            to.update(repeating: 0, count: oW)
                        }
                    }
                }
                let out = m + co * tileStride + k0 * tilesWide
                var q = 0
                while q < (k1 - k0) * tilesWide {
                    gradientTiles4(g(0) + 4 * q, g(1) + 4 * q, g(2) + 4 * q, g(3) + 4 * q, into: out + q, xiStride: xiStride)
                    q += 8
                }
            }
        }
    }
}

/// Copies `count` floats in vector pieces of 8 and 4, then single floats (a call to memmove
/// costs more than the copy at these sizes).
@inline(__always)
func copyFloats(_ from: UnsafePointer<Float>, to: UnsafeMutablePointer<Float>, count: Int) {
    var i = 0
    while i + 8 <= count {
        store8(load8(from + i), to + i)
        i += 8
    }
    if i + 4 <= count {
        UnsafeMutableRawPointer(to + i).storeBytes(
            of: UnsafeRawPointer(from + i).loadUnaligned(as: SIMD4<Float>.self), as: SIMD4<Float>.self)
        i += 4
    }
    while i < count {
        to[i] = from[i]
        i += 1
    }
}
