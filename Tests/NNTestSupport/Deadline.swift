import Foundation

/// Runs `body` on its own thread and stops the test process if it has not finished after
/// `seconds`: a deadlocked worker pool must fail the run, never hang it. `name` says whose
/// loops hung.
public func withDeadline(_ name: String, seconds: Double = 60, _ body: @escaping @Sendable () -> Void) {
    let done = DispatchSemaphore(value: 0)
    Thread { body(); done.signal() }.start()
    if done.wait(timeout: .now() + seconds) == .timedOut {
        fatalError("\(name): the loops did not finish within \(seconds) s (deadlock in WorkerPool?)")
    }
}
