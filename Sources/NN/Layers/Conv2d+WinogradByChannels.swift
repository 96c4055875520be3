/// Conv2d by Winograd (`WinogradPass`) with the threads splitting channels instead of images,
/// for outputs of one tile per image (F(4x4) at 3x3 and 4x4): split by images, each thread's
/// sgemms would multiply all of a large U[xi] by only its own images' tiles, and the weight
/// gradient would need a dU per thread (37.7 MB for 512>512), zeroed and added afterwards.
///
///   forward   per block of the whole batch: V of each thread's input channels; then
///             M = U V and the output tiles for each thread's output channels
///   backward  per block: V and dM of each thread's channels; then dU = dM V^T for each
///             thread's output channels (one sgemm over the block's tiles, beta 1 after the
///             first block: no partial sums); dW += G^T dU G; then dx as a convolution of dy
///             with the flipped weights, split the same way
///
/// Each phase waits for the one before (the sgemms read every channel of V). The same bits
/// come out on any number of threads, since every sum runs in one thread's sgemm, and the
/// output channels are split in whole panels of `WinogradPass.rowPanel` (libxsmm's rounding
/// of a row depends on the rows of its call).
///
/// Scratch: U (or the flipped U), dU, one block of V and of M (shared), and the row buffers
/// of each thread.
struct WinogradChannelPlan {
    let forward: WinogradPass
    let inputGradient: WinogradPass
    let weightFloats: Int
    let vOffset: Int, mOffset: Int, rowsOffset: Int, rowsPerPiece: Int

    /// Whether threads split channels rather than images: more than one thread, and an
    /// output of one tile per image.
    static func applies(tile: Int, geometry g: ConvGeometry, pieces: Int) -> Bool {
        pieces > 1 && g.outHeight <= tile && g.outWidth <= tile
    }

    init(geometry g: ConvGeometry, outChannels: Int, tile: Int, batch: Int) {
        (forward, inputGradient) = WinogradPass.passes(
            geometry: g, outChannels: outChannels, tile: tile, imagesPerPiece: batch)
        func rounded(_ floats: Int) -> Int { (floats + 15) / 16 * 16 }
        weightFloats = rounded(forward.weightFloats)
        vOffset = 2 * weightFloats  // U, then dU
        mOffset = vOffset + rounded(max(forward.inputBlockFloats, inputGradient.inputBlockFloats))
        rowsOffset = mOffset + rounded(max(forward.outputBlockFloats, inputGradient.outputBlockFloats))
        rowsPerPiece = rounded(max(forward.rowBufferFloats, inputGradient.rowBufferFloats))
    }

    func scratch(pieces: Int) -> Int { rowsOffset + pieces * rowsPerPiece }
}

extension Conv2d {
    func winogradChannelPlan(batch: Int, pieces: Int) -> WinogradChannelPlan? {
        let tile = resolvedAlgorithm == .winograd4 ? 4 : 2
        guard WinogradChannelPlan.applies(tile: tile, geometry: geometry, pieces: pieces) else { return nil }
        return WinogradChannelPlan(geometry: geometry, outChannels: outChannels, tile: tile, batch: batch)
    }

    func forwardWinogradByChannels(
        _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, batch: Int, plan: WinogradChannelPlan,
        pieces: Int, context: LayerContext
    ) {
        let scratch = context.scratch.baseAddress!
        let u = scratch, v = scratch + plan.vOffset, m = scratch + plan.mOffset
        WinogradPass.transformWeights(
            context.parameters + weightOffset, outChannels: outChannels, inChannels: inChannels, flipped: false,
            tile: plan.forward.tile, into: u, compute: context.compute)
        let bias: UnsafePointer<Float>? = hasBias ? context.parameters + biasOffset : nil
        plan.convolveByChannels(
            x, batch: batch, pass: plan.forward, u: u, bias: bias, into: y, v: v, m: m, pieces: pieces,
            rows: scratch + plan.rowsOffset, compute: context.compute)
    }

    func backwardWinogradByChannels(
        _ x: UnsafePointer<Float>, _ dy: UnsafePointer<Float>, _ dx: UnsafeMutablePointer<Float>?,
        gradients: UnsafeMutablePointer<Float>, batch: Int, plan: WinogradChannelPlan, pieces: Int,
        context: LayerContext
    ) {
        let scratch = context.scratch.baseAddress!, compute = context.compute
        let u = scratch, du = scratch + plan.weightFloats, v = scratch + plan.vOffset, m = scratch + plan.mOffset
        let rows = scratch + plan.rowsOffset
        if hasBias { accumulateBiasGradient(dy, into: gradients + biasOffset, batch: batch, compute: compute) }
        let pass = plan.forward
        var firstBlock = true
        pass.forEachBlock(0..<batch) { block in
            compute.indexedChunks(pieces) { piece, _ in
                let buffers = rows + piece * plan.rowsPerPiece
                pass.transformInput(
                    x, rows: block, channels: share(inChannels, piece, pieces), into: v, buffers: buffers)
                pass.transformGradient(
                    dy, rows: block, channels: share(outChannels, piece, pieces), into: m, buffers: buffers)
            }
            let beta: Float = firstBlock ? 0 : 1
            compute.indexedChunks(pieces) { piece, _ in
                pass.multiplyGradient(
                    dm: m, v: v, into: du, outputChannels: pass.outputShare(outChannels, piece, pieces),
                    tiles: block.count * pass.tilesWide, beta: beta)
            }
            firstBlock = false
        }
        WinogradPass.accumulateWeightGradient(
            du, outChannels: outChannels, inChannels: inChannels, tile: pass.tile, into: gradients + weightOffset,
            compute: compute)
        guard let dx else { return }
        WinogradPass.transformWeights(
            context.parameters + weightOffset, outChannels: outChannels, inChannels: inChannels, flipped: true,
            tile: pass.tile, into: u, compute: compute)
        plan.convolveByChannels(
            dy, batch: batch, pass: plan.inputGradient, u: u, bias: nil, into: dx, v: v, m: m, pieces: pieces,
            rows: rows, compute: compute)
    }
}

extension WinogradChannelPlan {
    /// output = conv(input) by `pass` over the whole batch, block by block: V of each piece's
    /// input channels, then M and the output tiles of each piece's output channels.
    func convolveByChannels(
        _ input: UnsafePointer<Float>, batch: Int, pass: WinogradPass, u: UnsafePointer<Float>,
        bias: UnsafePointer<Float>?, into output: UnsafeMutablePointer<Float>, v: UnsafeMutablePointer<Float>,
        m: UnsafeMutablePointer<Float>, pieces: Int, rows: UnsafeMutablePointer<Float>, compute: Compute
    ) {
        pass.forEachBlock(0..<batch) { block in
            compute.indexedChunks(pieces) { piece, _ in
                pass.transformInput(
                    input, rows: block, channels: share(pass.inChannels, piece, pieces), into: v,
                    buffers: rows + piece * rowsPerPiece)
            }
            compute.indexedChunks(pieces) { piece, _ in
                let channels = pass.outputShare(pass.outChannels, piece, pieces)
                pass.multiply(u: u, v: v, into: m, outputChannels: channels, tiles: block.count * pass.tilesWide)
                pass.transformOutput(
                    m, rows: block, channels: channels, bias: bias, into: output, buffers: rows + piece * rowsPerPiece)
            }
        }
    }
}

/// Piece `piece` of `pieces` nearly equal ranges covering 0..<count.
private func share(_ count: Int, _ piece: Int, _ pieces: Int) -> Range<Int> {
    (count * piece / pieces)..<(count * (piece + 1) / pieces)
}

extension WinogradPass {
    /// `share` of the output channels in whole panels of `rowPanel`, so that each row's tile
    /// GEMM is the same on any number of threads.
    fileprivate func outputShare(_ count: Int, _ piece: Int, _ pieces: Int) -> Range<Int> {
        let panel = max(1, min(rowPanel, count)), panels = (count + panel - 1) / panel
        let range = share(panels, piece, pieces)
        return min(count, range.lowerBound * panel)..<min(count, range.upperBound * panel)
    }
}
