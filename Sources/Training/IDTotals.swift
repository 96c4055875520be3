/// Count, wrapping sum and xor of a set of global instance ids: the fingerprint of the
/// per-epoch conservation check (`Trainer.checkConservation`). The totals of every rank's
/// ids, summed (count, sum) and xor-ed over ranks, equal those of the whole training split
/// when every id is owned exactly once; a lost or duplicated id changes the count, and a
/// swapped one (one lost, another duplicated) the sum or the xor.
public struct IDTotals: Equatable, Sendable, CustomStringConvertible {
    public var count: Int64
    public var sum: Int64
    public var xor: UInt64

    public init(count: Int64, sum: Int64, xor: UInt64) {
        self.count = count
        self.sum = sum
        self.xor = xor
    }

    /// The totals of `ids`.
    public init(ids: [Int32]) {
        var sum: Int64 = 0, xor: UInt64 = 0
        for id in ids {
            sum &+= Int64(id)
            xor ^= UInt64(UInt32(bitPattern: id))
        }
        self.init(count: Int64(ids.count), sum: sum, xor: xor)
    }

    /// The totals of the ids `0..<n` (a whole training split), from `n` alone: the sum is
    /// n (n - 1) / 2, and the xor of 0...m is m, 1, m + 1 or 0 as m % 4 is 0, 1, 2 or 3.
    public init(idsBelow n: Int) {
        precondition(n >= 0 && n <= Int(Int32.max) + 1, "IDTotals: \(n) ids")
        let m = UInt64(max(n - 1, 0))
        let xor: UInt64 = n == 0 ? 0 : [m, 1, m + 1, 0][Int(m % 4)]
        self.init(count: Int64(n), sum: Int64(n) * Int64(max(n - 1, 0)) / 2, xor: xor)
    }

    public var description: String { "\(count) instances (id sum \(sum), xor \(xor))" }
}
