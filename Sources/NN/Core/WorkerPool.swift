import CBLAS
import Foundation

/// The threads that run `Compute.indexedChunks`: the caller runs piece 0 and worker i
/// runs piece i. After a piece a worker spins for a short while (about 0.1 ms) before it
/// sleeps, so the next loop of the same step starts without a wake-up: with libdispatch
/// every loop paid one (tens of microseconds, a fifth of an mlp step), and OpenBLAS's own
/// pool, which spins, could not be used beside our loops (see `BLAS`).
///
/// One loop runs at a time. A loop started while another runs (from inside a piece, or
/// from another thread) runs its pieces on the calling thread, in order: the same pieces
/// with the same ranges, so results never depend on which happened.
final class WorkerPool: @unchecked Sendable {
    static let shared = WorkerPool()

    /// Spin-wait rounds (one `pause` each) before a waiting worker sleeps.
    static let spinRounds = 2_000

    /// Shared words, each written atomically: the loop word (generation << 8 | pieces),
    /// the pieces finished by workers, the address of the loop's body, and whether the
    /// workers time their pieces (for `LoopProfile`).
    private let words = UnsafeMutablePointer<Int>.allocate(capacity: 4)
    private var word: UnsafeMutablePointer<Int> { words }
    private var finished: UnsafeMutablePointer<Int> { words + 1 }
    private var bodyAddress: UnsafeMutablePointer<Int> { words + 2 }
    private var timing: UnsafeMutablePointer<Int> { words + 3 }
    /// Piece i's start and end at [2 (i - 1)] and [2 (i - 1) + 1], when `timing` is set.
    private let pieceTimes = UnsafeMutablePointer<Double>.allocate(capacity: 2 * 254)
    /// Held by the thread running a loop.
    private let running = NSLock()
    /// Sleeping workers wait on it for the next loop word.
    private let wake = NSCondition()
    private var sleepers = 0
    private var workers = 0

    private init() {
        words.initialize(repeating: 0, count: 4)
        pieceTimes.initialize(repeating: 0, count: 2 * 254)
    }

    /// Runs `body(piece)` for every piece in 0..<pieces (at most 255), in parallel when no
    /// other loop is running; returns when all have finished. `file:line` names the loop
    /// in an active `LoopProfile`.
    func run(pieces: Int, file: StaticString, line: UInt, _ body: (Int) -> Void) {
        precondition(pieces <= 255)
        guard pieces > 1, running.try() else {
            for piece in 0..<pieces { body(piece) }
            return
        }
        defer { running.unlock() }
        while workers < pieces - 1 { startWorker(index: workers + 1) }
        let profile = LoopProfile.active
        let start = profile == nil ? 0 : LoopProfile.now()
        var callerDone = 0.0
        withoutActuallyEscaping(body) { body in
            withUnsafePointer(to: body) { pointer in
                ies_store_release(finished, 0)
                ies_store_release(timing, profile == nil ? 0 : 1)
                ies_store_release(bodyAddress, Int(bitPattern: pointer))
                let generation = (ies_load_acquire(word) >> 8) + 1
                ies_store_release(word, generation << 8 | pieces)
                wake.lock()
                if sleepers > 0 { wake.broadcast() }
                wake.unlock()
                body(0)
                if profile != nil { callerDone = LoopProfile.now() }
                // Yield once the spin is long: on a busy node a worker may be waiting for this core.
                var spins = 0
                while ies_load_acquire(finished) < pieces - 1 {
                    spins += 1
                    if spins < Self.spinRounds { ies_cpu_relax() } else { sched_yield() }
                }
            }
        }
        profile?.add(
            file: file, line: line, start: start, callerDone: callerDone, end: LoopProfile.now(),
            workers: pieceTimes, pieces: pieces)
    }

    private func startWorker(index: Int) {
        workers += 1
        let seen = ies_load_acquire(word) >> 8
        let thread = Thread { [self] in workerLoop(index: index, seen: seen) }
        thread.name = "ies-compute-\(index)"
        thread.start()
    }

    private func workerLoop(index: Int, seen start: Int) {
        var seen = start
        while true {
            var current = ies_load_acquire(word)
            var spins = 0
            while current >> 8 == seen {
                if spins < Self.spinRounds {
                    ies_cpu_relax()
                    spins += 1
                } else {
                    wake.lock()
                    sleepers += 1
                    while ies_load_acquire(word) >> 8 == seen { wake.wait() }
                    sleepers -= 1
                    wake.unlock()
                }
                current = ies_load_acquire(word)
            }
            seen = current >> 8
            guard index < current & 0xff else { continue }
            // The loop's caller waits for this piece, so its body is alive until `finished` moves.
            do {
                let timed = ies_load_acquire(timing) != 0
                if timed { pieceTimes[2 * index - 2] = LoopProfile.now() }
                let pointer = UnsafePointer<(Int) -> Void>(bitPattern: ies_load_acquire(bodyAddress))!
                pointer.pointee(index)
                if timed { pieceTimes[2 * index - 1] = LoopProfile.now() }
            }
            _ = ies_add_release(finished, 1)
        }
    }
}
