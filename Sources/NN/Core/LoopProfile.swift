/// Where a step's time goes between the threads (for `ies bench --loops`): for every loop
/// that `Compute` runs on several threads, keyed by its call site, the serial time on the
/// calling thread since the previous such loop ended, the calling thread's own piece, the
/// slowest other piece, how long the workers took to start, and how long the caller waited
/// for them. Loops run on one thread count as serial time.
///
/// Recorded only while a profile is `active`; otherwise `WorkerPool` tests one word per loop.
/// Only one thread may start loops while recording (the benchmark's).
public final class LoopProfile {
    /// A loop's call site (`Compute`'s `#fileID` and `#line`).
    struct Site: Hashable {
        let file: UnsafeRawPointer
        let line: UInt
    }

    /// One site's totals, in seconds.
    public struct Totals: Sendable {
        public var calls = 0
        public var serialBefore = 0.0
        public var callerPiece = 0.0
        public var slowestOtherPiece = 0.0
        public var pickUp = 0.0
        public var callerWait = 0.0
    }

    /// The profile being recorded, if any.
    nonisolated(unsafe) static var active: LoopProfile?

    private var totals: [Site: Totals] = [:]
    private var names: [Site: String] = [:]
    private var lastEnd = 0.0

    public init() {}

    /// Records the loops `body` runs (on the calling thread's loops); the time before the
    /// first of them counts from here.
    public func record<T>(_ body: () throws -> T) rethrows -> T {
        precondition(Self.active == nil, "LoopProfile: one profile at a time")
        lastEnd = Self.now()
        Self.active = self
        defer { Self.active = nil }
        return try body()
    }

    /// The sites' totals, by "file:line", in the order of their names.
    public var sites: [(site: String, totals: Totals)] {
        totals.map { (names[$0.key]!, $0.value) }.sorted { $0.site < $1.site }
    }

    /// Adds one loop: `start` when the caller published it, `callerDone` when its own piece
    /// ended, `end` when all pieces had; `workers[2 * (i - 1)]` and the next are piece i's
    /// start and end (i in 1..<pieces).
    func add(
        file: StaticString, line: UInt, start: Double, callerDone: Double, end: Double,
        workers: UnsafePointer<Double>, pieces: Int
    ) {
        let site = Site(file: UnsafeRawPointer(file.utf8Start), line: line)
        var entry = totals[site] ?? Totals()
        if entry.calls == 0 { names[site] = "\(file):\(line)" }
        entry.calls += 1
        entry.serialBefore += max(0, start - lastEnd)
        entry.callerPiece += callerDone - start
        var slowest = 0.0, pickUp = 0.0
        for i in 1..<pieces {
            slowest = max(slowest, workers[2 * i - 1] - workers[2 * i - 2])
            pickUp = max(pickUp, workers[2 * i - 2] - start)
        }
        entry.slowestOtherPiece += slowest
        entry.pickUp += pickUp
        entry.callerWait += end - callerDone
        totals[site] = entry
        lastEnd = end
    }

    @inline(__always)
    static func now() -> Double { MonotonicClock.seconds() }
}
