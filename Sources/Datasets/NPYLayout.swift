/// Where the channels are in a 4-D NumPy image array: `(N, H, W, C)` or `(N, C, H, W)`.
///
/// `auto` decides from the shape `(N, a, b, c)`, calling 1, 3 and 4 "channel counts"
/// (grey, RGB, RGBA):
/// - `c` is a channel count: NHWC (also when `a` is one too: `(N, 3, 32, 3)` is NHWC);
/// - else `a` is a channel count: NCHW;
/// - else the shape is refused: force the layout.
/// A 3-D array `(N, H, W)` is one channel whatever the layout.
public enum NPYLayout: String, Sendable, Codable, CaseIterable {
    case auto, nhwc, nchw

    /// Channel counts `auto` recognises.
    public static let channelCounts: Set<Int> = [1, 3, 4]
    /// Upper bound on height and width (as for IDX): larger is a mistaken shape, not an image.
    public static let maxSide = 4096

    /// The layout of images of `shape` (N first) in `path`, with their channels, height and
    /// width; `.nchw` for a 3-D array.
    ///
    /// - Throws: `DatasetError.unsupportedShape` for a rank other than 3 and 4, a zero or
    ///   over-large side, or a 4-D shape `auto` cannot decide.
    public func resolve(_ shape: [Int], path: String) throws -> (layout: NPYLayout, channels: Int, height: Int, width: Int) {
        func refuse(_ why: String) -> DatasetError { .unsupportedShape(file: path, shape: shape, expected: why) }
        let resolved: (NPYLayout, Int, Int, Int)
        switch shape.count {
        case 3:
            resolved = (.nchw, 1, shape[1], shape[2])
        case 4:
            var layout = self
            if layout == .auto {
                if Self.channelCounts.contains(shape[3]) {
                    layout = .nhwc
                } else if Self.channelCounts.contains(shape[1]) {
                    layout = .nchw
                } else {
                    throw refuse(
                        "(N, H, W, C) or (N, C, H, W) with C 1, 3 or 4; for other channel counts force the layout "
                            + "(nhwc or nchw)")
                }
            }
            resolved = layout == .nhwc ? (.nhwc, shape[3], shape[1], shape[2]) : (.nchw, shape[1], shape[2], shape[3])
        default:
            throw refuse("uint8 images (N, H, W), (N, H, W, C) or (N, C, H, W)")
        }
        let (_, channels, height, width) = resolved
        guard channels > 0, height > 0, width > 0, height <= Self.maxSide, width <= Self.maxSide,
              channels <= Self.maxSide
        else {
            throw refuse("channels, height and width in 1...\(Self.maxSide)")
        }
        return resolved
    }
}
