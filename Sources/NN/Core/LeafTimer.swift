/// Time spent inside the leaf layers during a whole model's forward and backward (for
/// `ies bench --layers`): composites (`Sequential`) start and stop it around each leaf
/// child when `LayerContext.leafTimer` is set. What the model takes beyond it is the work
/// composites do between their children (residual sums and their gradients) and the calls
/// themselves; what the leaves take inside the model beyond their time alone is what the
/// model's larger working set costs them (caches).
public final class LeafTimer {
    public private(set) var forwardSeconds = 0.0
    public private(set) var backwardSeconds = 0.0
    /// The same per leaf.
    public private(set) var perLeaf: [ObjectIdentifier: (forward: Double, backward: Double)] = [:]
    private var started = 0.0

    public init() {}

    func start() { started = Self.now() }

    func stop(_ layer: Layer, forward: Bool) {
        let elapsed = Self.now() - started
        var leaf = perLeaf[ObjectIdentifier(layer)] ?? (0, 0)
        if forward {
            forwardSeconds += elapsed
            leaf.forward += elapsed
        } else {
            backwardSeconds += elapsed
            leaf.backward += elapsed
        }
        perLeaf[ObjectIdentifier(layer)] = leaf
    }

    public func reset() {
        (forwardSeconds, backwardSeconds) = (0, 0)
        perLeaf = [:]
    }

    private static func now() -> Double { MonotonicClock.seconds() }
}
