import Foundation
import Report
import RunFormat
import TestSupport
import XCTest

/// Event files: the checksum, the hand-made protobuf, the framing, and TensorBoard's
/// own reader agreeing with metrics.jsonl.
final class TensorBoardTests: XCTestCase {
    func testCRC32CKnownValues() {
        XCTAssertEqual(CRC32C.checksum(Array("123456789".utf8)), 0xE306_9283)
        XCTAssertEqual(CRC32C.checksum([UInt8]()), 0)
        XCTAssertEqual(CRC32C.checksum([UInt8](repeating: 0, count: 32)), 0x8A91_36AA)  // RFC 3720 B.4
        XCTAssertEqual(CRC32C.checksum([UInt8](repeating: 0xFF, count: 32)), 0x62A8_AB43)
    }

    /// One scalar event, encoded by hand from the field numbers in event.proto.
    func testScalarEventBytes() {
        let event = TensorBoardEvent.scalars([("lr", 0.5)], step: 3, wallTime: 2.0)
        let expected: [UInt8] = [
            0x09, 0, 0, 0, 0, 0, 0, 0, 0x40,  // wall_time (1, fixed64) = 2.0
            0x10, 0x03,  // step (2, varint) = 3
            0x2A, 0x0B,  // summary (5, length-delimited), 11 bytes
            0x0A, 0x09,  // Summary.value (1), 9 bytes
            0x0A, 0x02, 0x6C, 0x72,  // tag (1) = "lr"
            0x15, 0, 0, 0, 0x3F,  // simple_value (2, fixed32) = 0.5
        ]
        XCTAssertEqual(event, expected)
        var big = ProtobufEncoder()
        big.int64(2, 300)
        XCTAssertEqual(big.bytes, [0x10, 0xAC, 0x02])
    }

    /// Reads the TFRecord framing back and checks both masked CRCs of every record.
    private func records(_ path: String) throws -> [[UInt8]] {
        let bytes = [UInt8](try XCTUnwrap(FileManager.default.contents(atPath: path)))
        func le(_ range: Range<Int>) -> UInt64 { range.reversed().reduce(0) { $0 << 8 | UInt64(bytes[$1]) } }
        var offset = 0, result: [[UInt8]] = []
        while offset < bytes.count {
            let length = Int(le(offset..<(offset + 8)))
            XCTAssertEqual(UInt32(le((offset + 8)..<(offset + 12))), CRC32C.masked(bytes[offset..<(offset + 8)]))
            let data = Array(bytes[(offset + 12)..<(offset + 12 + length)])
            XCTAssertEqual(UInt32(le((offset + 12 + length)..<(offset + 16 + length))), CRC32C.masked(data))
            result.append(data)
            offset += 16 + length
        }
        XCTAssertEqual(offset, bytes.count)
        return result
    }

    func testWriterFramesEveryEventAndNamesTheFile() throws {
        let directory = try TemporaryDirectory.make()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let writer = try TensorBoardWriter(directory: directory + "/tb", wallTime: 1_700_000_000)
        try writer.add(scalars: [("accuracy/test", 0.5)], step: 1, wallTime: 1_700_000_001)
        try writer.add(scalars: [("accuracy/test", 0.75), ("lr", 0.1)], step: 2, wallTime: 1_700_000_002)
        // Flushed per epoch: readable before close.
        let events = try records(writer.path)
        XCTAssertEqual(events.count, 3)
        XCTAssertEqual(events[0], TensorBoardEvent.fileVersion(wallTime: 1_700_000_000))
        XCTAssertTrue(String(decoding: events[0], as: UTF8.self).contains("brain.Event:2"))
        try writer.close()
        let name = (writer.path as NSString).lastPathComponent
        XCTAssertTrue(name.hasPrefix("events.out.tfevents.1700000000."), name)
        XCTAssertFalse(name.hasSuffix("."), name)
    }

    func testScalarsOfARecord() throws {
        let line = #"{"epoch":2,"lr":0.1,"test_accuracy":0.8,"train_accuracy":0.7,"test_loss":0.5,"train_loss":0.6,"mastered":10,"trained":90,"probed":10,"returned":0,"seconds":1,"backprop_saved":0.05,"samples_per_second":1234.5}"#
        let scalars = TensorBoardScalars.scalars(for: try JSONDecoder().decode(EpochMetrics.self, from: Data(line.utf8)))
        XCTAssertEqual(scalars.map(\.tag), [
            "accuracy/test", "accuracy/train", "loss/test", "loss/train", "ies/mastered", "ies/trained",
            "ies/backprop_saved", "lr", "throughput/samples_per_second",
        ])
        XCTAssertEqual(scalars.map(\.value), [0.8, 0.7, 0.5, 0.6, 10, 90, 0.05, 0.1, 1234.5])
    }

    /// `ies report --tensorboard` on the fixture, read back by TensorBoard's EventAccumulator.
    func testTensorBoardReadsTheSameValuesAsMetricsJSONL() throws {
        try Python.require(
            "tensorboard.backend.event_processing.event_accumulator", hint: "pip install tensorboard; scripts/install-deps.sh")
        let ies = try BuiltProducts.require("ies")
        let directory = try TemporaryDirectory.make()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let run = ReportTestSupport.fixture("mlp-2ranks")
        for _ in 0..<2 {  // exporting twice replaces the first export instead of doubling the points
            let export = try Subprocess.run(ies, ["report", "--tensorboard", directory, run], timeout: 60)
            XCTAssertEqual(export.status, 0, export.stderr)
        }
        let events = try FileManager.default.contentsOfDirectory(atPath: directory + "/mlp-2ranks")
        XCTAssertEqual(events.filter { $0.hasPrefix("events.out.tfevents.") }.count, 1, "\(events)")

        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("read_events.py").path
        let read = try Python.run([script, directory + "/mlp-2ranks"], timeout: 120)
        XCTAssertEqual(read.status, 0, read.stderr)
        let scalars = try XCTUnwrap(
            JSONSerialization.jsonObject(with: Data(read.stdout.utf8)) as? [String: [[Double]]], read.stdout)
        let records = try MetricsFile(path: RunDirectory(run).metrics).records
        XCTAssertEqual(Set(scalars.keys), Set(TensorBoardScalars.tags.map(\.tag)))
        for (tag, value) in TensorBoardScalars.tags {
            let points = try XCTUnwrap(scalars[tag], tag)
            XCTAssertEqual(points.map { Int($0[0]) }, records.map(\.epoch), tag)
            for (point, record) in zip(points, records) {
                let expected = value(record)
                XCTAssertEqual(point[1], Double(Float(expected)), accuracy: abs(expected) * 1e-7, "\(tag) epoch \(point[0])")
            }
        }
    }
}
