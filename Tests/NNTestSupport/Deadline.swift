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

/// Runs `body` on the calling thread while a watchdog thread stops the test process if it
/// has not returned after `seconds` (for tests whose body calls XCTest assertions on the
/// test case, which `withDeadline`'s own thread cannot capture).
public func withWatchdog<T>(_ name: String, seconds: Double = 60, _ body: () throws -> T) rethrows -> T {
    let done = DispatchSemaphore(value: 0)
    Thread {
        if done.wait(timeout: .now() + seconds) == .timedOut {
            fatalError("\(name): did not finish within \(seconds) s (deadlock in WorkerPool?)")
        }
    }.start()
    defer { done.signal() }
    return try body()
}
