import Foundation
import RunFormat
import TestSupport
import Training
import XCTest

/// Output a person or a scheduler log sees: lines delivered as they happen, time
/// estimates, help text that reads as paragraphs.
final class OutputTests: RunDirectoryTestCase {
    /// With stdout a pipe (what Slurm and nohup give a job), each epoch line arrives when
    /// its epoch ends, not all together at exit.
    func testEpochLinesReachAPipeAsEpochsEnd() throws {
        let run = try runDirectory()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: BuiltProducts.ies)
        process.arguments = [
            "train", "--model", "mlp", "--limit", "20000", "--epochs", "3", "--threads", "1", "--run-dir", run,
        ]
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = FileHandle.nullDevice
        let arrivals = Arrivals()
        let start = Date()
        pipe.fileHandleForReading.readabilityHandler = { handle in
            arrivals.add(String(decoding: handle.availableData, as: UTF8.self), at: Date().timeIntervalSince(start))
        }
        try process.run()
        let deadline = Date().addingTimeInterval(120)
        while process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
        if process.isRunning { process.terminate() }
        process.waitUntilExit()
        pipe.fileHandleForReading.readabilityHandler = nil
        XCTAssertEqual(process.terminationStatus, 0)
        let ends = Date().timeIntervalSince(start)
        let epochs = try MetricsFile(path: run + "/metrics.jsonl").records
        let first = try XCTUnwrap(arrivals.time(ofLineStarting: "epoch 1/3"), "no epoch line: \(arrivals.text)")
        let last = try XCTUnwrap(arrivals.time(ofLineStarting: "epoch 3/3"), arrivals.text)
        // Epoch 1's line came at least most of epochs 2 and 3 before epoch 3's.
        let laterEpochs = epochs[1...].map(\.seconds).reduce(0, +)
        print(String(format: "epoch 1 line at %.2f s, epoch 3 line at %.2f s, exit at %.2f s (epochs 2-3: %.2f s)",
                     first, last, ends, laterEpochs))
        XCTAssertGreaterThan(last - first, 0.5 * laterEpochs, "epoch lines were held back (block-buffered stdout?)")
        XCTAssertTrue(arrivals.text.contains("ETA"), arrivals.text)
    }

    func testDurationsAndEstimates() {
        XCTAssertEqual(formatDuration(0), "0s")
        XCTAssertEqual(formatDuration(42.4), "42s")
        XCTAssertEqual(formatDuration(59.6), "1m 00s")
        XCTAssertEqual(formatDuration(185), "3m 05s")
        XCTAssertEqual(formatDuration(3599), "59m 59s")
        XCTAssertEqual(formatDuration(7620), "2h 07m")
        XCTAssertEqual(formatDuration(-1), "?")
        XCTAssertEqual(formatDuration(.infinity), "?")
        // The mean of the last three epochs times the epochs left.
        XCTAssertEqual(estimatedSeconds(remaining: 4, recentEpochSeconds: [100, 10, 20, 30]), 80)
        XCTAssertEqual(estimatedSeconds(remaining: 2, recentEpochSeconds: [5]), 10)
        XCTAssertNil(estimatedSeconds(remaining: 0, recentEpochSeconds: [5]))
        XCTAssertNil(estimatedSeconds(remaining: 3, recentEpochSeconds: []))
    }

    /// Help text flows as paragraphs: no line breaks inside a sentence before column 60
    /// (the parser wraps at the terminal width; a hard line break would show as a ragged edge).
    func testHelpTextHasNoEarlyLineBreaks() throws {
        for command in [[], ["train"], ["eval"], ["inspect"], ["bench"]] {
            let result = try Fixtures.runIES(command + ["--help"])
            let lines = result.stdout.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
            for (line, next) in zip(lines, lines.dropFirst()) {
                let indent = line.prefix { $0 == " " }.count, nextIndent = next.prefix { $0 == " " }.count
                let continues = !next.trimmingCharacters(in: .whitespaces).isEmpty
                    && !next.trimmingCharacters(in: .whitespaces).hasPrefix("-") && nextIndent >= indent
                    && !line.trimmingCharacters(in: .whitespaces).isEmpty
                // The parser wraps at 80 columns: a line that the next word would push past 80 is fine.
                let nextWord = next.trimmingCharacters(in: .whitespaces).prefix { $0 != " " }
                guard continues, line.count < 60, line.count + 1 + nextWord.count <= 80 else { continue }
                let end = line.trimmingCharacters(in: .whitespaces).last
                XCTAssertTrue(
                    end == "." || end == ":" || end == ")" || line.hasPrefix("USAGE") || line.hasPrefix("OVERVIEW")
                        || line.hasSuffix(">"),
                    "ies \(command.joined(separator: " ")) --help breaks early:\n\(line)\n\(next)")
            }
        }
    }

    /// `ies bench --loops` prints, after each training line, every parallel loop of the step
    /// by its call site, and a per-step sum that accounts for the whole step.
    func testBenchLoopsTableNamesTheLoopsOfTheStep() throws {
        let result = try Fixtures.runIES([
            "bench", "--models", "mlp", "--threads", "2", "--loops", "--repeats", "1", "--seconds", "0.3",
            "--tracker-instances", "0", "--checkpoint-data", "",
        ])
        XCTAssertEqual(result.status, 0, result.stderr)
        let lines = result.stdout.split(separator: "\n").map(String.init)
        guard let header = lines.firstIndex(where: { $0.hasPrefix("parallel loops, per call (us) over ") }) else {
            return XCTFail("no loops table in:\n\(result.stdout)")
        }
        XCTAssertTrue(lines[header - 1].hasPrefix("train mlp"), lines[header - 1])
        let rows = lines[(header + 2)...].prefix { !$0.hasPrefix("per step:") }
        // The mlp's forward, weight and input gradients, the update and the batch fill.
        for site in ["NN/Linear.swift:", "NN/SGD.swift:", "Training/Normalization+Threads.swift:"] {
            XCTAssertTrue(rows.contains { $0.hasPrefix(site) }, "no \(site) row in:\n\(rows.joined(separator: "\n"))")
        }
        let total = try XCTUnwrap(lines.first { $0.hasPrefix("per step: ") })
        // "per step: A us in parallel loops (W waiting ...), B us on the calling thread alone"
        // adds up to the step's time in the header: "over N steps of S us".
        let numbers = total.split(separator: " ").compactMap { Double($0.trimmingCharacters(in: CharacterSet(charactersIn: "(),"))) }
        let step = try XCTUnwrap(
            lines[header].split(separator: " ").compactMap { Double($0.trimmingCharacters(in: CharacterSet(charactersIn: ":"))) }.last)
        XCTAssertEqual(numbers.count, 3, total)
        XCTAssertEqual(numbers[0] + numbers[2], step, accuracy: 0.1 * step, "\(total) against a step of \(step) us")
    }
}

/// Output chunks with the time they arrived (the read handler runs on another thread).
private final class Arrivals: @unchecked Sendable {
    private let lock = NSLock()
    private var chunks: [(text: String, time: Double)] = []

    func add(_ text: String, at time: Double) {
        lock.lock()
        chunks.append((text, time))
        lock.unlock()
    }

    var text: String {
        lock.lock()
        defer { lock.unlock() }
        return chunks.map(\.text).joined()
    }

    /// When the chunk holding the line that starts with `prefix` arrived.
    func time(ofLineStarting prefix: String) -> Double? {
        lock.lock()
        defer { lock.unlock() }
        var seen = ""
        for chunk in chunks {
            seen += chunk.text
            if seen.split(separator: "\n").contains(where: { $0.hasPrefix(prefix) }) { return chunk.time }
        }
        return nil
    }
}
