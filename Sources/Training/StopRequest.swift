import Dispatch
import Distributed
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A request to stop at the next step boundary: SIGTERM or SIGUSR1 (what schedulers send
/// before preempting a job; `mpirun` forwards SIGUSR1 to every rank at once), or a first
/// Ctrl-C (SIGINT), so that an interrupted run keeps its partial epoch. The signal's
/// default action (termination) is replaced; the trainer checks `isRequested` at each step
/// and the ranks agree on it through the step's allreduce. A second SIGINT ends the
/// process at once with status 130 (128 + SIGINT, the shell's convention).
public final class StopRequest: @unchecked Sendable {
    /// The process-wide instance; `listen()` installs the handlers (once).
    public static let shared = StopRequest()

    private let lock = NSLock()
    private var requested: Int32?
    private var sources: [DispatchSourceSignal] = []
    private var interrupts = 0

    /// The signals that ask a run to checkpoint and stop.
    public static let signals: [Int32] = [SIGTERM, SIGUSR1, SIGINT]
    /// What the first Ctrl-C prints on stderr.
    public static let interruptMessage =
        "interrupted: stopping at the next step with a checkpoint (press Ctrl-C again to stop at once)"

    /// Starts listening for the stop signals (idempotent).
    public func listen() {
        lock.lock()
        defer { lock.unlock() }
        guard sources.isEmpty else { return }
        for number in Self.signals {
            Glibc.signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler { [weak self] in
                guard number == SIGINT else { self?.request(number); return }
                // Two Ctrl-C close together may arrive as one event counting both.
                for _ in 0..<max(1, Int(source.data)) { self?.interrupted() }
            }
            source.resume()
            sources.append(source)
        }
    }

    /// Marks a stop as requested (what the handlers do; tests may call it directly).
    public func request(_ signal: Int32 = SIGTERM) {
        lock.lock()
        defer { lock.unlock() }
        if requested == nil { requested = signal }
    }

    /// A Ctrl-C: the first asks for a stop with a checkpoint, the second ends the process now.
    private func interrupted() {
        lock.lock()
        interrupts += 1
        let first = interrupts == 1
        lock.unlock()
        guard first else { _exit(ExitStatus.interrupted.rawValue) }
        FileHandle.standardError.write(Data((Self.interruptMessage + "\n").utf8))
        request(SIGINT)
    }

    /// The signal that asked to stop, if any.
    public var signalNumber: Int32? {
        lock.lock()
        defer { lock.unlock() }
        return requested
    }

    public var isRequested: Bool { signalNumber != nil }

    /// Forgets a request (between runs in one process).
    public func reset() {
        lock.lock()
        defer { lock.unlock() }
        requested = nil
        interrupts = 0
    }
}
