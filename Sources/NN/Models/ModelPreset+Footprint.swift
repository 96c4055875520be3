/// What a preset would allocate, counted from its layer tree before anything is allocated
/// (layers hold only shapes until a `Model` lays them out).
extension ModelPreset {
    /// The sizes that decide a model's memory.
    public struct Footprint: Sendable, Equatable {
        /// Parameters (Float32 each).
        public var parameters: Int
        /// Output values of every layer for one instance (Float32 each).
        public var activationsPerInstance: Int
    }

    /// Counts parameters and per-instance activations of the network for inputs of shape
    /// (channels, height, width) and `classes` outputs, without allocating them.
    /// - Throws: `ShapeError` when the network does not fit the input.
    public func footprint(channels: Int, height: Int, width: Int, classes: Int, stageWidth: Int? = nil) throws -> Footprint {
        let root = try network(channels: channels, height: height, width: width, classes: classes, stageWidth: stageWidth)
        var parameters = 0, activations = 0
        for (_, layer) in Model.walk(root) {
            parameters = parameters.addingSaturating(layer.parameterSpecs.reduce(0) { $0.addingSaturating($1.count) })
            activations = activations.addingSaturating(layer.outputSize)
        }
        return Footprint(parameters: parameters, activationsPerInstance: activations)
    }
}

extension Int {
    /// `self + other`, or `Int.max` when that overflows (sizes compared with a limit).
    fileprivate func addingSaturating(_ other: Int) -> Int {
        let (sum, overflow) = addingReportingOverflow(other)
        return overflow ? .max : sum
    }
}
