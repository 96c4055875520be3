import CMPI
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Deadlines for a job's communication: a rank that stops answering (a stopped process, a
/// dead link, a hung node) ends the job within `timeout` seconds, with a message naming the
/// ranks and hosts that did not arrive, instead of leaving every other rank waiting forever.
///
/// Every rank counts the collectives it enters (all ranks enter the same ones in the same
/// order) and tells two *watchers*, ranks 0 and 1, which one it has reached (one small
/// message each); a rank that has been waiting a while also sends a heartbeat every
/// `heartbeat` seconds. Collectives are started non-blocking and polled; a watcher that
/// has waited `timeout` names the ranks that did not arrive or fell silent (a stopped
/// process, a cut link) and aborts the job. Other ranks give the watchers `grace` seconds
/// more before they abort by themselves (a watcher may be the one that stopped). A
/// point-to-point wait names its peer directly.
final class StallWatchdog {
    let timeout: Double
    let grace: Double
    private let rank: Int
    private let size: Int
    /// Host name of every rank.
    private let hosts: [String]
    private let comm: MPI_Comm?
    /// Collectives entered by this rank.
    private(set) var sequence = 0
    /// Watchers: the last collective each rank is known to have entered, and when each was last heard from.
    private var lastArrival: [Int]
    private var lastHeard: [Double]
    /// Seconds between heartbeats while waiting; silence for three of them marks a rank as gone.
    private var heartbeat: Double { min(1, timeout / 5) }
    /// Arrival messages in flight, with their buffers.
    private var outgoing: [(request: MPI_Request?, payload: UnsafeMutablePointer<Int64>)] = []
    /// What the job is doing, for the message (set by the caller, e.g. "epoch 3, training").
    var activity = ""
    /// Ends the job (MPI_Abort); does not return.
    private let abort: (Int32) -> Never

    static let arrivalTag: Int32 = 32_000
    static let watchers = [0, 1]

    init(timeout: Double, grace: Double, rank: Int, size: Int, hosts: [String], comm: MPI_Comm?, abort: @escaping (Int32) -> Never) {
        self.timeout = timeout
        self.grace = grace
        self.rank = rank
        self.size = size
        self.hosts = hosts
        self.comm = comm
        self.abort = abort
        lastArrival = [Int](repeating: 0, count: size)
        lastHeard = [Double](repeating: 0, count: size)
        lastHeard = lastHeard.map { _ in monotonic() }
    }

    deinit {
        for message in outgoing { message.payload.deallocate() }
    }

    private var isWatcher: Bool { Self.watchers.contains(rank) && rank < size }

    /// Called on entering a collective: counts it and tells the watchers.
    func arrive() {
        sequence += 1
        lastArrival[rank] = sequence
        tellWatchers()
    }

    /// Sends this rank's position (the collective it is in) to the watchers.
    private func tellWatchers() {
        reapSends()
        for watcher in Self.watchers where watcher < size && watcher != rank {
            let payload = UnsafeMutablePointer<Int64>.allocate(capacity: 1)
            payload.initialize(to: Int64(sequence))
            var request: MPI_Request? = cmpi_request_null()
            // A failure here surfaces as the stall it would cause; the collective itself reports errors.
            _ = MPI_Isend(payload, 1, cmpi_int64(), Int32(watcher), Self.arrivalTag, comm, &request)
            outgoing.append((request, payload))
        }
    }

    /// Polls `done` until it returns true; past the deadline, names who is missing and ends the
    /// job. `peer` is the rank a point-to-point operation waits for (nil for collectives).
    func wait(call: String, peer: Int?, until done: () throws -> Bool) throws {
        let start = monotonic()
        var polls = 0
        var lastBeat = start, lastPoll = start
        while try !done() {
            drainArrivals()
            let now = monotonic()
            let waited = now - start
            if now - lastPoll > 3 * heartbeat && now - lastPoll > 1 {
                // This process itself did not run (SIGSTOP, a frozen VM): others cannot be blamed.
                stall("rank \(rank) (host \(hosts[rank])) was itself suspended for \(format(now - lastPoll)) in \(call)")
            }
            lastPoll = now
            if now - lastBeat > heartbeat {
                tellWatchers()
                lastBeat = now
            }
            if let peer, waited > timeout {
                stall("rank \(rank) (host \(hosts[rank])) waited \(format(waited)) for rank \(peer) (host \(hosts[peer])) in \(call)")
            }
            if peer == nil && waited > timeout && isWatcher {
                let absent = (0..<size).filter { lastArrival[$0] < sequence }
                let silent = (0..<size).filter { $0 != rank && !absent.contains($0) && now - lastHeard[$0] > 3 * heartbeat }
                var who: [String] = []
                if !absent.isEmpty {
                    who.append(absent.map { "rank \($0) (host \(hosts[$0]))" }.joined(separator: ", ") + " did not arrive")
                }
                if !silent.isEmpty {
                    who.append(
                        silent.map { "rank \($0) (host \(hosts[$0]))" }.joined(separator: ", ")
                            + " arrived but fell silent (stopped or cut off)")
                }
                if who.isEmpty { who = ["every rank reached it and is alive, yet it did not complete"] }
                stall(
                    "\(call) #\(sequence)\(activity.isEmpty ? "" : " (\(activity))"): \(who.joined(separator: "; ")) "
                        + "within \(format(waited))")
            }
            if peer == nil && waited > timeout + grace {
                let watchers = Self.watchers.filter { $0 < size && $0 != rank }
                    .map { "rank \($0) (host \(hosts[$0]))" }.joined(separator: " and ")
                stall(
                    "\(call) #\(sequence)\(activity.isEmpty ? "" : " (\(activity))") did not complete within "
                        + "\(format(waited)), and \(watchers) did not end the job: stopped or cut off?")
            }
            polls += 1
            if polls < 2000 { sched_yield() } else { usleep(200) }
        }
    }

    /// Reads the arrival messages that came in (watchers only).
    private func drainArrivals() {
        guard isWatcher, let comm else { return }
        while true {
            var flag: Int32 = 0
            var status = MPI_Status()
            guard MPI_Iprobe(cmpi_any_source(), Self.arrivalTag, comm, &flag, &status) == MPI_SUCCESS, flag != 0 else {
                return
            }
            var reached: Int64 = 0
            guard MPI_Recv(&reached, 1, cmpi_int64(), status.MPI_SOURCE, Self.arrivalTag, comm, cmpi_status_ignore())
                == MPI_SUCCESS
            else { return }
            let source = Int(status.MPI_SOURCE)
            if source >= 0 && source < size {
                lastArrival[source] = max(lastArrival[source], Int(reached))
                lastHeard[source] = monotonic()
            }
        }
    }

    /// Frees the arrival messages that have been sent.
    private func reapSends() {
        outgoing.removeAll { message in
            var request = message.request
            var flag: Int32 = 0
            guard MPI_Test(&request, &flag, cmpi_status_ignore()) == MPI_SUCCESS, flag != 0 else { return false }
            message.payload.deallocate()
            return true
        }
    }

    private func stall(_ what: String) -> Never {
        let line = "Error (rank \(rank), host \(hosts[rank])): stalled: \(what); ending the job (stall timeout "
            + "\(format(timeout))). Resume from the last checkpoint.\n"
        FileHandle.standardError.write(Data(line.utf8))
        abort(ExitStatus.stalled.rawValue)
    }

    private func format(_ seconds: Double) -> String { String(format: "%.1f s", seconds) }

    private func monotonic() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
    }
}
