import Distributed
import Foundation
import RunFormat
import TestSupport
import Training
import XCTest

/// Scaling out: gradient buckets reduced during backward give the result of reducing them after it;
/// a per-rank batch sets the global batch and the learning rate; such runs resume exactly.
final class ScalingTests: RunDirectoryTestCase {
    private func train(
        ranks: Int, _ arguments: [String], environment: [String: String] = [:]
    ) throws -> (run: String, metrics: [EpochMetrics], output: Subprocess.Result) {
        let run = try runDirectory()
        let result = try Fixtures.mpirunIES(
            ranks: ranks, ["train", "--run-dir", run, "--threads", "1", "--no-progress"] + arguments,
            environment: environment)
        XCTAssertFalse(result.timedOut)
        XCTAssertEqual(result.status, 0, result.stderr)
        return (run, try MetricsFile(path: run + "/metrics.jsonl").records, result)
    }

    private static let sharedMemoryLine = "gradients: summed in shared memory after backward (2 ranks on one host)"

    private func model(_ run: String) throws -> Data { try Data(contentsOf: URL(fileURLWithPath: run + "/model.safetensors")) }

    /// Two ranks on one host, three models, small buckets (several per step): MPI's buckets
    /// during backward give bit for bit the sums the ranks make in their shared window after it.
    func testBucketsDuringBackwardEqualTheSharedMemorySum() throws {
        for preset in [["--model", "mlp"], ["--model", "cnn"], ["--model", "resnet18", "--width", "4", "--test-limit", "256"]] {
            let common = preset + ["--limit", "1024", "--epochs", "2", "--seed", "8", "--bucket-mb", "0.02"]
            let (shared, _, sharedRun) = try train(ranks: 2, common + ["--overlap", "off"])
            let (bucketed, metrics, bucketedRun) = try train(ranks: 2, common + ["--overlap", "on"])
            XCTAssertTrue(sharedRun.stdout.contains(Self.sharedMemoryLine), sharedRun.stdout)
            XCTAssertFalse(bucketedRun.stdout.contains(Self.sharedMemoryLine), bucketedRun.stdout)
            XCTAssertEqual(
                try model(bucketed), try model(shared), "\(preset[1]): buckets and shared-memory sums differ")
            XCTAssertTrue(metrics.allSatisfy(\.parameterDigestAgree))
        }
    }

    /// Where the shared window's directory has no room (here: cannot be read), two ranks on
    /// one host say so and reduce through MPI's buckets after backward, with the same result.
    func testTwoRanksWithoutRoomForTheSharedWindowReduceThroughMPI() throws {
        let common = ["--model", "cnn", "--limit", "512", "--test-limit", "128", "--epochs", "1", "--seed", "3"]
        let (shared, _, sharedRun) = try train(ranks: 2, common)
        let (fallback, metrics, fallbackRun) = try train(
            ranks: 2, common, environment: ["OMPI_MCA_osc_sm_backing_directory": "/nonexistent-ies-test-directory"])
        XCTAssertTrue(sharedRun.stdout.contains(Self.sharedMemoryLine), sharedRun.stdout)
        XCTAssertFalse(fallbackRun.stdout.contains(Self.sharedMemoryLine), fallbackRun.stdout)
        XCTAssertTrue(fallbackRun.stdout.contains("reduced after backward (all ranks on one host)"), fallbackRun.stdout)
        XCTAssertTrue(
            fallbackRun.stderr.contains("no shared-memory window of")
                && fallbackRun.stderr.contains("the gradients are reduced through MPI's messages instead"),
            fallbackRun.stderr)
        XCTAssertEqual(try model(fallback), try model(shared))
        XCTAssertTrue(metrics.allSatisfy(\.parameterDigestAgree))
    }

    /// Three ranks, where MPI's sums round by an element's place in the reduced range: the
    /// overlap and the stall watchdog (blocking or non-blocking waits) leave the model bit for
    /// bit the same (they used to change it through the algorithm that summed).
    func testOverlapAndWatchdogDoNotChangeThreeRanksResult() throws {
        let common = ["--model", "cnn", "--limit", "1536", "--test-limit", "256", "--epochs", "1", "--seed", "5"]
        let (reference, _, _) = try train(ranks: 3, common + ["--overlap", "on"])
        for variant in [["--overlap", "off"], ["--overlap", "off", "--stall-timeout", "0"], ["--stall-timeout", "0"]] {
            let (run, _, _) = try train(ranks: 3, common + variant)
            XCTAssertEqual(try model(run), try model(reference), "\(variant) changed the result")
        }
    }

    func testPerRankBatchSetsTheGlobalBatchAndScalesTheLearningRate() throws {
        let common = ["--model", "mlp", "--limit", "2000", "--epochs", "1", "--lr", "0.05", "--lr-schedule", "constant"]
        let cases: [(ranks: Int, perRank: Int, scaling: String, batch: Int, lr: Double)] = [
            (2, 32, "linear", 64, 0.05), (2, 64, "linear", 128, 0.1), (4, 64, "sqrt", 256, 0.1), (2, 64, "none", 128, 0.05),
        ]
        for c in cases {
            let (_, metrics, _) = try train(
                ranks: c.ranks, common + ["--batch-size-per-rank", String(c.perRank), "--lr-scaling", c.scaling])
            let m = try XCTUnwrap(metrics.first)
            XCTAssertEqual(m.globalBatch, c.batch, "\(c)")
            XCTAssertEqual(m.lr, c.lr, accuracy: 1e-12, "\(c)")
            XCTAssertEqual(m.steps, (2000 + c.batch - 1) / c.batch, "\(c)")
        }
    }

    /// Four ranks with a per-rank batch and linear scaling: 2 + 2 epochs equal 4.
    func testFourRanksWithPerRankBatchResumeExactly() throws {
        let common = [
            "--model", "mlp", "--limit", "3000", "--batch-size-per-rank", "32", "--lr-scaling", "linear", "--seed", "2",
            "--ies-threshold", "0.05", "--ies-window", "1", "--ies-k", "1",
        ]
        let (straight, _, _) = try train(ranks: 4, common + ["--epochs", "4"])
        let (resumed, _, _) = try train(ranks: 4, common + ["--epochs", "2"])
        let result = try Fixtures.mpirunIES(
            ranks: 4, ["train", "--resume", resumed, "--epochs", "4", "--threads", "1", "--no-progress"])
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertEqual(try model(resumed), try model(straight))
    }

    /// 16-bit gradients: every rank still ends with the same parameters, the result differs
    /// from the exact one (the compression is really applied) and still learns.
    func testHalfPrecisionGradientsKeepRanksIdenticalAndLearn() throws {
        let common = ["--model", "mlp", "--limit", "4000", "--epochs", "2", "--seed", "3", "--bucket-mb", "0.1"]
        let (exact, reference, _) = try train(ranks: 2, common)
        for format in ["bf16", "fp16"] {
            let (run, metrics, _) = try train(ranks: 2, common + ["--allreduce-dtype", format])
            XCTAssertTrue(metrics.allSatisfy(\.parameterDigestAgree), format)
            XCTAssertNotEqual(try model(run), try model(exact), "\(format): no effect on the gradients")
            // Learns as well: the epoch's mean training loss within 5% of the exact run's (the
            // test accuracy after two short epochs moves by 3 points from seed to seed).
            XCTAssertEqual(metrics.last!.trainLoss, reference.last!.trainLoss, accuracy: 0.05 * reference.last!.trainLoss, format)
            XCTAssertGreaterThan(metrics.last!.testAccuracy, 0.7, format)
        }
        // The mlp's gradients fit one bucket of the default size: compressed too (they used to
        // share the exact bucket of the counts and go uncompressed).
        let (oneBucket, _, _) = try train(ranks: 2, Array(common.dropLast(2)) + ["--allreduce-dtype", "bf16"])
        XCTAssertNotEqual(try model(oneBucket), try model(exact), "bf16 with one bucket: no effect on the gradients")
    }

    func testHalfPrecisionRoundTrip() {
        for value: Float in [0, 1, -2.5, 1e-3, 3.14159, 65504, -1e-5] {
            XCTAssertEqual(HalfPrecision.float16.decode(HalfPrecision.float16.encode(value)), Float(Float16(value)))
            let bf = HalfPrecision.bfloat16.decode(HalfPrecision.bfloat16.encode(value))
            XCTAssertEqual(bf, value, accuracy: abs(value) / 128, "bf16 \(value)")
        }
        // Ties round to even: 1 + 2^-8 lies halfway between bf16 1 and 1 + 2^-7.
        XCTAssertEqual(HalfPrecision.bfloat16.decode(HalfPrecision.bfloat16.encode(1 + 1.0 / 256)), 1)
        XCTAssertEqual(HalfPrecision.bfloat16.decode(HalfPrecision.bfloat16.encode(1 + 3.0 / 256)), 1 + 4.0 / 256)
        XCTAssertTrue(HalfPrecision.bfloat16.decode(HalfPrecision.bfloat16.encode(.nan)).isNaN)
    }
}
