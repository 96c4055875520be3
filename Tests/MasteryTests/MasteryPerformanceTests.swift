import Dispatch
import Mastery
import XCTest

/// A smoke run at ImageNet-train scale (not a timing assertion; the benchmark lives elsewhere).
final class MasteryPerformanceTests: XCTestCase {
    func testMillionsOfInstancesSmoke() {
        let n = 1_280_000
        let tracker = MasteryTracker(rule: .defaults, ids: (0..<n).map { Int32($0) })
        var rng = SplitMix64(seed: 2025)
        var slots = Array(0..<n)
        var losses = [Float](repeating: 0, count: n)
        var recordTime = 0.0, decideTime = 0.0
        var counts = MasteryCounts()
        let epochs = 7
        for epoch in 1...epochs {
            slots.shuffle(using: &rng)
            // Even slots: constant loss (mastered from epoch 6); odd slots: loss alternates by 0.5.
            for i in 0..<n {
                let slot = slots[i]
                losses[i] = slot % 2 == 0 ? 0.5 : (epoch % 2 == 0 ? 1.0 : 0.5)
            }
            let t0 = DispatchTime.now().uptimeNanoseconds
            tracker.record(losses: losses, slots: slots)
            let t1 = DispatchTime.now().uptimeNanoseconds
            counts = tracker.decide()
            let t2 = DispatchTime.now().uptimeNanoseconds
            recordTime += Double(t1 - t0) / 1e9
            decideTime += Double(t2 - t1) / 1e9
            XCTAssertEqual(counts.mastered, epoch >= 6 ? n / 2 : 0, "epoch \(epoch)")
        }
        XCTAssertEqual(counts, MasteryCounts(mastered: n / 2, returned: 0, newlyMastered: 0))
        XCTAssertEqual(tracker.masteredCount, n / 2)
        XCTAssertTrue(tracker.isMastered(0))
        XCTAssertFalse(tracker.isMastered(1))
        #if DEBUG
        let build = "debug"
        #else
        let build = "release"
        #endif
        print(String(
            format: "MasteryTracker smoke: %d instances, %d epochs: record %.3f s/epoch, decide %.3f s/epoch",
            n, epochs, recordTime / Double(epochs), decideTime / Double(epochs)) + " (\(build) build)")
    }
}
