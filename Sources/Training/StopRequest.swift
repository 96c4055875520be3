import Dispatch
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A request to stop at the next step boundary: SIGTERM or SIGUSR1 (what schedulers send
/// before preempting a job; `mpirun` forwards SIGUSR1 to every rank at once). The signal's
/// default action (termination) is replaced; the trainer checks `isRequested` at each step
/// and the ranks agree on it through the step's allreduce.
public final class StopRequest: @unchecked Sendable {
    /// The process-wide instance; `listen()` installs the handlers (once).
    public static let shared = StopRequest()

    private let lock = NSLock()
    private var requested: Int32?
    private var sources: [DispatchSourceSignal] = []

    /// The signals that ask a run to checkpoint and stop.
    public static let signals: [Int32] = [SIGTERM, SIGUSR1]

    /// Starts listening for the stop signals (idempotent).
    public func listen() {
        lock.lock()
        defer { lock.unlock() }
        guard sources.isEmpty else { return }
        for number in Self.signals {
            Glibc.signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler { [weak self] in self?.request(number) }
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
    }
}
