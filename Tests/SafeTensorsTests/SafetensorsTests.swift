import Foundation
import DurableIO
import SafeTensors
import TestSupport
import XCTest

/// Tests for the safetensors reader/writer in `Sources/NN/Safetensors`.
final class SafetensorsTests: XCTestCase {
    private var directory: TemporaryDirectory?
    private var tempDir: URL!

    override func setUpWithError() throws {
        let directory = try TemporaryDirectory("SafetensorsTests")
        self.directory = directory
        tempDir = URL(fileURLWithPath: directory.path, isDirectory: true)
    }

    override func tearDown() {
        directory = nil  // removes it
        super.tearDown()
    }

    // MARK: - Fixtures

    /// Several tensors of every dtype (scalars, empty tensors, extreme and non-finite values) plus metadata.
    private func sampleFile() -> SafetensorsFile {
        SafetensorsFile(
            tensors: [
                SafetensorsTensor(
                    name: "layer.0.weight", shape: [2, 4],
                    floats: [1.5, -0.0, .infinity, -.infinity, .nan, .leastNonzeroMagnitude,
                             .greatestFiniteMagnitude, -3.25]),
                SafetensorsTensor(name: "layer.0.bias", shape: [4], floats: [0.1, 0.2, -0.3, 1e-30]),
                SafetensorsTensor(name: "scalar", shape: [], floats: [42.5]),
                SafetensorsTensor(name: "empty", shape: [0, 5], floats: []),
                SafetensorsTensor(name: "f64", shape: [3], float64s: [.pi, -1e-300, 1e300]),
                SafetensorsTensor(name: "f64.special", shape: [1, 2], float64s: [.nan, -.infinity]),
                SafetensorsTensor(name: "i32", shape: [2, 2], int32s: [.min, -1, 0, .max]),
                SafetensorsTensor(name: "i32.b", shape: [1], int32s: [123_456]),
                SafetensorsTensor(name: "i64", shape: [4], int64s: [.min, -1, 0, .max]),
                SafetensorsTensor(name: "i64.b", shape: [1, 1, 1], int64s: [9_007_199_254_740_993]),
                SafetensorsTensor(name: "u8", dtype: .u8, shape: [2, 2, 2], bytes: [0, 1, 2, 3, 4, 5, 254, 255]),
                SafetensorsTensor(name: "u8.b", dtype: .u8, shape: [3], bytes: [7, 8, 9]),
                SafetensorsTensor(name: "名前 \"quoted\" back\\slash\nnewline\u{1}", shape: [1], floats: [7]),
            ],
            metadata: [
                "format": "pt",
                "escapes": "quote \" backslash \\ tab \t nul \u{0} ctrl \u{1f} del \u{7f}",
                "unicode": "café 🚀",
                "": "empty key",
            ])
    }

    /// Builds file bytes by hand: length prefix (default: header length), header, data.
    private func fileBytes(
        header: String, data: [UInt8] = [], pad: Bool = true, lengthPrefix: UInt64? = nil
    ) -> [UInt8] {
        var headerBytes = Array(header.utf8)
        if pad {
            while (8 + headerBytes.count) % 8 != 0 { headerBytes.append(0x20) }
        }
        let n = lengthPrefix ?? UInt64(headerBytes.count)
        return (0..<8).map { UInt8(truncatingIfNeeded: n >> (8 * UInt64($0))) } + headerBytes + data
    }

    private let badPath = "bad.safetensors"

    /// Asserts that decoding `bytes` throws exactly `expected`, with a one-line message naming the path.
    private func assertDecodeError(
        _ bytes: [UInt8], _ expected: SafetensorsError, file: StaticString = #filePath, line: UInt = #line
    ) {
        assertDecodeError(bytes, file: file, line: line) { error in
            XCTAssertEqual(error, expected, file: file, line: line)
        }
    }

    private func assertDecodeError(
        _ bytes: [UInt8], file: StaticString = #filePath, line: UInt = #line,
        _ check: (SafetensorsError) -> Void
    ) {
        XCTAssertThrowsError(try SafetensorsFile.decode(bytes, path: badPath), file: file, line: line) { error in
            guard let error = error as? SafetensorsError else {
                return XCTFail("unexpected error type: \(error)", file: file, line: line)
            }
            check(error)
            XCTAssertTrue(error.description.hasPrefix(badPath + ": "), error.description, file: file, line: line)
            XCTAssertFalse(error.description.contains("\n"), error.description, file: file, line: line)
        }
    }

    // MARK: - Round trip and layout

    func testRoundTripAllDTypesWithMetadata() throws {
        let original = sampleFile()
        let encoded = original.encoded()
        XCTAssertEqual((8 + Int(encoded.prefix(8).reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) })) % 8, 0,
                       "header must be padded to an 8-byte boundary")
        let decoded = try SafetensorsFile.decode(encoded)
        XCTAssertEqual(decoded, original)
        XCTAssertEqual(decoded.tensors.map(\.name), original.tensors.map(\.name), "tensor order must be preserved")
        XCTAssertEqual(decoded.metadata, original.metadata)
        XCTAssertEqual(decoded.encoded(), encoded, "re-encoding must be byte-identical")

        let weight = try XCTUnwrap(decoded["layer.0.weight"])
        XCTAssertEqual(weight.dtype, .f32)
        XCTAssertEqual(weight.shape, [2, 4])
        XCTAssertEqual(weight.floats.map(\.bitPattern), original.tensors[0].floats.map(\.bitPattern))
        XCTAssertEqual(decoded["f64"]?.float64s, [.pi, -1e-300, 1e300])
        XCTAssertEqual(decoded["i32"]?.int32s, [.min, -1, 0, .max])
        XCTAssertEqual(decoded["i64"]?.int64s, [.min, -1, 0, .max])
        XCTAssertEqual(decoded["i64.b"]?.int64s, [9_007_199_254_740_993])
        XCTAssertEqual(decoded["u8"]?.bytes, [0, 1, 2, 3, 4, 5, 254, 255])
        XCTAssertEqual(decoded["scalar"]?.shape, [])
        XCTAssertEqual(decoded["scalar"]?.floats, [42.5])
        XCTAssertEqual(decoded["empty"]?.shape, [0, 5])
        XCTAssertEqual(decoded["empty"]?.bytes, [])
        XCTAssertEqual(decoded["名前 \"quoted\" back\\slash\nnewline\u{1}"]?.floats, [7])
        XCTAssertNil(decoded["missing"])
    }

    func testEmptyFileRoundTrip() throws {
        let empty = SafetensorsFile(tensors: [])
        let bytes = empty.encoded()
        XCTAssertEqual(bytes, [8, 0, 0, 0, 0, 0, 0, 0] + Array("{}      ".utf8))
        XCTAssertEqual(try SafetensorsFile.decode(bytes), empty)
    }

    func testExactByteLayoutSingleF32() {
        let file = SafetensorsFile(tensors: [SafetensorsTensor(name: "w", shape: [2], floats: [1, -2])])
        let header = #"{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#
        XCTAssertEqual(header.utf8.count, 54)
        let expected: [UInt8] = [56, 0, 0, 0, 0, 0, 0, 0]  // 54 header bytes + 2 spaces
            + Array(header.utf8) + [0x20, 0x20]
            + [0x00, 0x00, 0x80, 0x3F, 0x00, 0x00, 0x00, 0xC0]
        XCTAssertEqual(file.encoded(), expected)
    }

    func testExactByteLayoutWithMetadataAndScalar() {
        let file = SafetensorsFile(
            tensors: [SafetensorsTensor(name: "n", shape: [], int32s: [-2])],
            metadata: ["b": "x\"y", "a": "1"])
        let header = #"{"__metadata__":{"a":"1","b":"x\"y"},"n":{"dtype":"I32","shape":[],"data_offsets":[0,4]}}"#
        XCTAssertEqual(header.utf8.count, 89)
        let expected: [UInt8] = [96, 0, 0, 0, 0, 0, 0, 0]  // 89 header bytes + 7 spaces
            + Array(header.utf8) + Array(repeating: 0x20, count: 7)
            + [0xFE, 0xFF, 0xFF, 0xFF]
        XCTAssertEqual(file.encoded(), expected)
    }

    func testHeaderEscapesNamesAndMetadata() throws {
        let file = SafetensorsFile(
            tensors: [SafetensorsTensor(name: "a\"b\\c\nd\u{1}é\t", dtype: .u8, shape: [1], bytes: [9])],
            metadata: ["k\u{1f}": "v\r\u{8}\u{c}/"])
        let bytes = file.encoded()
        let n = Int(bytes[0]) | Int(bytes[1]) << 8
        let header = String(decoding: bytes[8..<(8 + n)], as: UTF8.self)
        XCTAssertEqual(
            header.trimmingCharacters(in: .whitespaces),
            #"{"__metadata__":{"k\u001f":"v\r\b\f/"},"a\"b\\c\nd\u0001é\t":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}"#)
        XCTAssertEqual(try SafetensorsFile.decode(bytes), file)
    }

    func testTypedInitializersUseLittleEndianBytes() {
        XCTAssertEqual(SafetensorsTensor(name: "a", shape: [2], int32s: [1, -2]).bytes,
                       [1, 0, 0, 0, 0xFE, 0xFF, 0xFF, 0xFF])
        XCTAssertEqual(SafetensorsTensor(name: "b", shape: [1], int64s: [0x0102_0304_0506_0708]).bytes,
                       [8, 7, 6, 5, 4, 3, 2, 1])
        XCTAssertEqual(SafetensorsTensor(name: "c", shape: [1], float64s: [1.0]).bytes,
                       [0, 0, 0, 0, 0, 0, 0xF0, 0x3F])
        let floats: [Float] = [0.5, -1, 3, 4, 5, 6]
        let fromPointer = floats.withUnsafeBufferPointer {
            SafetensorsTensor(name: "d", shape: [3, 2], floats: $0)
        }
        XCTAssertEqual(fromPointer, SafetensorsTensor(name: "d", shape: [3, 2], floats: floats))
        XCTAssertEqual(Array(fromPointer.bytes.prefix(8)), [0, 0, 0, 0x3F, 0, 0, 0x80, 0xBF])
        XCTAssertEqual(fromPointer.floats, floats)
        XCTAssertEqual(SafetensorsTensor(name: "e", dtype: .i64, shape: [1], bytes: [0xFF, 0, 0, 0, 0, 0, 0, 0x80]).int64s,
                       [Int64.min + 255])
        XCTAssertEqual(SafetensorsDType.allCases.map(\.byteSize), [4, 8, 4, 8, 1])
    }

    func testDecodeOrdersByOffsetsAndAcceptsUnpaddedHeader() throws {
        let header = #"{"b":{"dtype":"I32","shape":[1],"data_offsets":[4,8]},"z":{"dtype":"U8","shape":[0],"data_offsets":[4,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"__metadata__":{}}"#
        let bytes = fileBytes(header: header, data: [0, 0, 0x80, 0x3F, 5, 0, 0, 0], pad: false)
        XCTAssertNotEqual((8 + header.utf8.count) % 8, 0, "fixture must be unpadded")
        let file = try SafetensorsFile.decode(bytes)
        XCTAssertEqual(file.tensors.map(\.name), ["a", "z", "b"])
        XCTAssertEqual(file["a"]?.floats, [1])
        XCTAssertEqual(file["b"]?.int32s, [5])
        XCTAssertEqual(file["z"]?.bytes, [])
        XCTAssertEqual(file.metadata, [:])
    }

    // MARK: - Malformed input

    func testTooShort() {
        assertDecodeError([], .fileTooShort(path: badPath, size: 0))
        assertDecodeError([1, 0, 0], .fileTooShort(path: badPath, size: 3))
        assertDecodeError([0, 0, 0, 0, 0, 0, 0], .fileTooShort(path: badPath, size: 7))
    }

    func testHeaderLengthBeyondFile() {
        assertDecodeError(fileBytes(header: "{}", pad: false, lengthPrefix: 100),
                          .headerLengthExceedsFile(path: badPath, headerLength: 100, available: 2))
        assertDecodeError(fileBytes(header: "{}", pad: false, lengthPrefix: 3),
                          .headerLengthExceedsFile(path: badPath, headerLength: 3, available: 2))
        assertDecodeError(fileBytes(header: "", pad: false, lengthPrefix: .max),
                          .headerLengthExceedsFile(path: badPath, headerLength: .max, available: 0))
    }

    func testInvalidJSON() {
        for header in [#"{"w":{"#, #"{"a":1,}"#, "", "{} x", #"{'a':1}"#, #"{"a":"\q"}"#, #"{"a":01}"#,
                       "{\"a\":\"tab\there\"}", #"{"a":"\ud800"}"#, String(repeating: "[", count: 10_000)] {
            assertDecodeError(fileBytes(header: header)) { error in
                guard case .invalidJSON(let path, let detail) = error else {
                    return XCTFail("header \(header.prefix(20)): expected invalidJSON, got \(error)")
                }
                XCTAssertEqual(path, self.badPath)
                XCTAssertTrue(detail.contains("header byte"), detail)
            }
        }
        assertDecodeError(fileBytes(header: "   ", pad: false), .invalidJSON(
            path: badPath, detail: "unexpected end of header, expected a value at header byte 3"))
        assertDecodeError(fileBytes(header: #"{"a" 1}"#), .invalidJSON(
            path: badPath, detail: "expected ':' after object key at header byte 5"))
    }

    func testHeaderNotUTF8OrNotObject() {
        var bytes = fileBytes(header: #"{"x":"ab"}"#)
        bytes[14] = 0xFF  // inside the string "ab"
        assertDecodeError(bytes, .headerNotUTF8(path: badPath))
        assertDecodeError(fileBytes(header: "[1,2]"), .headerNotObject(path: badPath))
        assertDecodeError(fileBytes(header: #""w""#), .headerNotObject(path: badPath))
    }

    func testUnknownDType() {
        for dtype in ["F16", "f32", "BF16", ""] {
            let header = #"{"w":{"dtype":"\#(dtype)","shape":[1],"data_offsets":[0,4]}}"#
            assertDecodeError(fileBytes(header: header, data: [0, 0, 0, 0]),
                              .unknownDType(path: badPath, name: "w", dtype: dtype))
        }
    }

    func testMalformedEntries() {
        let cases: [(String, String?, String)] = [
            (#"5"#, nil, "is not a JSON object"),
            (#"{"shape":[1],"data_offsets":[0,4]}"#, "dtype", "is missing"),
            (#"{"dtype":32,"shape":[1],"data_offsets":[0,4]}"#, "dtype", "is not a string"),
            (#"{"dtype":"F32","dtype":"F32","shape":[1],"data_offsets":[0,4]}"#, "dtype", "appears more than once"),
            (#"{"dtype":"F32","data_offsets":[0,4]}"#, "shape", "is missing"),
            (#"{"dtype":"F32","shape":[1.0],"data_offsets":[0,4]}"#, "shape", "is not an array of non-negative integers"),
            (#"{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}"#, "shape", "is not an array of non-negative integers"),
            (#"{"dtype":"F32","shape":4,"data_offsets":[0,4]}"#, "shape", "is not an array of non-negative integers"),
            (#"{"dtype":"F32","shape":[4294967296,4294967296]}"#, "shape", "has an element count that overflows"),
            (#"{"dtype":"F32","shape":[1]}"#, "data_offsets", "is missing"),
            (#"{"dtype":"F32","shape":[1],"data_offsets":[0]}"#, "data_offsets",
             "is not an array of two non-negative integers [begin, end]"),
            (#"{"dtype":"F32","shape":[1],"data_offsets":[0,4,4]}"#, "data_offsets",
             "is not an array of two non-negative integers [begin, end]"),
            (#"{"dtype":"F32","shape":[1],"data_offsets":[0,"4"]}"#, "data_offsets",
             "is not an array of two non-negative integers [begin, end]"),
            (#"{"dtype":"F32","shape":[1],"data_offsets":[0,1e1]}"#, "data_offsets",
             "is not an array of two non-negative integers [begin, end]"),
            (#"{"dtype":"F32","shape":[1],"data_offsets":[0,99999999999999999999]}"#, "data_offsets",
             "is not an array of two non-negative integers [begin, end]"),
            (#"{"dtype":"F32","shape":[0],"data_offsets":[4,0]}"#, "data_offsets", "has end 0 before begin 4"),
        ]
        for (entry, field, problem) in cases {
            assertDecodeError(fileBytes(header: #"{"w":\#(entry)}"#, data: [0, 0, 0, 0]),
                              .malformedEntry(path: badPath, name: "w", field: field, problem: problem))
        }
    }

    func testOffsetsDoNotMatchShape() {
        assertDecodeError(
            fileBytes(header: #"{"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}"#, data: Array(repeating: 0, count: 8)),
            .sizeMismatch(path: badPath, name: "w", expectedBytes: 12, offsetBytes: 8))
        assertDecodeError(
            fileBytes(header: #"{"w":{"dtype":"I64","shape":[],"data_offsets":[0,4]}}"#, data: [0, 0, 0, 0]),
            .sizeMismatch(path: badPath, name: "w", expectedBytes: 8, offsetBytes: 4))
    }

    func testOffsetsOutOfRange() {
        assertDecodeError(
            fileBytes(header: #"{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#, data: [0, 0, 0, 0]),
            .offsetsOutOfRange(path: badPath, name: "w", begin: 0, end: 8, dataSize: 4))
    }

    func testGapsAndOverlaps() {
        let gap = #"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}}"#
        assertDecodeError(fileBytes(header: gap, data: Array(repeating: 0, count: 12)),
                          .dataGap(path: badPath, name: "b", begin: 8, expectedBegin: 4))
        let leadingGap = #"{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#
        assertDecodeError(fileBytes(header: leadingGap, data: Array(repeating: 0, count: 8)),
                          .dataGap(path: badPath, name: "a", begin: 4, expectedBegin: 0))
        let overlap = #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#
        assertDecodeError(fileBytes(header: overlap, data: Array(repeating: 0, count: 8)),
                          .dataOverlap(path: badPath, name: "b", begin: 4, expectedBegin: 8))
        let same = #"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"I32","shape":[1],"data_offsets":[0,4]}}"#
        assertDecodeError(fileBytes(header: same, data: Array(repeating: 0, count: 4)),
                          .dataOverlap(path: badPath, name: "b", begin: 0, expectedBegin: 4))
    }

    func testDataSectionLongerThanCovered() {
        assertDecodeError(
            fileBytes(header: #"{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#, data: Array(repeating: 0, count: 8)),
            .dataNotCovered(path: badPath, coveredBytes: 4, dataSize: 8))
        assertDecodeError(fileBytes(header: "{}", data: [1, 2, 3]),
                          .dataNotCovered(path: badPath, coveredBytes: 0, dataSize: 3))
    }

    func testDuplicateNamesAndBadMetadata() {
        let entry = #"{"dtype":"U8","shape":[1],"data_offsets":[0,1]}"#
        assertDecodeError(fileBytes(header: #"{"w":\#(entry),"w":\#(entry)}"#, data: [1]),
                          .duplicateName(path: badPath, name: "w"))
        assertDecodeError(fileBytes(header: #"{"__metadata__":{"a":1}}"#),
                          .invalidMetadata(path: badPath, detail: #"value of key "a" is not a string"#))
        assertDecodeError(fileBytes(header: #"{"__metadata__":["a"]}"#),
                          .invalidMetadata(path: badPath, detail: "not a JSON object"))
        assertDecodeError(fileBytes(header: #"{"__metadata__":{"a":"1","a":"2"}}"#),
                          .invalidMetadata(path: badPath, detail: #"duplicate key "a""#))
        assertDecodeError(fileBytes(header: #"{"__metadata__":{},"__metadata__":{}}"#),
                          .invalidMetadata(path: badPath, detail: #""__metadata__" appears more than once"#))
    }

    func testErrorDescriptionsAreOneLineAndNameThePath() {
        let errors: [SafetensorsError] = [
            .fileTooShort(path: "p", size: 3),
            .headerLengthExceedsFile(path: "p", headerLength: 9, available: 2),
            .malformedEntry(path: "p", name: "evil\nname", field: "shape", problem: "is missing"),
            .unknownDType(path: "p", name: "w", dtype: "F16"),
        ]
        for error in errors {
            XCTAssertTrue(error.description.hasPrefix("p: "), error.description)
            XCTAssertFalse(error.description.contains("\n"), error.description)
        }
        XCTAssertTrue(SafetensorsError.unknownDType(path: "p", name: "w", dtype: "F16").description
            .contains("F32, F64, I32, I64, U8"))
        XCTAssertTrue(FileError(path: "p", operation: "open", errno: ENOENT).description
            .contains("No such file"))
    }

    // MARK: - Files

    func testWriteAndReadBack() throws {
        let path = tempDir.appendingPathComponent("model.safetensors").path
        let original = sampleFile()
        try original.write(path: path)
        XCTAssertEqual(try [UInt8](Data(contentsOf: URL(fileURLWithPath: path))), original.encoded())
        XCTAssertEqual(try SafetensorsFile.read(path: path), original)

        // Overwriting truncates: a smaller file leaves no stale trailing bytes.
        let small = SafetensorsFile(tensors: [SafetensorsTensor(name: "w", shape: [1], floats: [2])])
        try small.write(path: path)
        XCTAssertEqual(try SafetensorsFile.read(path: path), small)
    }

    func testReadAndWriteErrorsNameThePath() throws {
        let missing = tempDir.appendingPathComponent("missing.safetensors").path
        XCTAssertThrowsError(try SafetensorsFile.read(path: missing)) { error in
            XCTAssertEqual(error as? FileError, FileError(path: missing, operation: "open", errno: ENOENT))
        }
        XCTAssertThrowsError(try SafetensorsFile.read(path: tempDir.path)) { error in
            XCTAssertEqual(error as? FileError, FileError(path: tempDir.path, operation: "read", errno: EISDIR))
        }
        let noDir = tempDir.appendingPathComponent("no/such/dir.safetensors").path
        XCTAssertThrowsError(try sampleFile().write(path: noDir)) { error in
            XCTAssertEqual(error as? FileError, FileError(path: noDir + ".tmp", operation: "open", errno: ENOENT))
        }
        let truncated = tempDir.appendingPathComponent("truncated.safetensors").path
        try Data(sampleFile().encoded().dropLast()).write(to: URL(fileURLWithPath: truncated))
        XCTAssertThrowsError(try SafetensorsFile.read(path: truncated)) { error in
            guard case .offsetsOutOfRange(let path, _, _, _, _)? = error as? SafetensorsError else {
                return XCTFail("expected offsetsOutOfRange, got \(error)")
            }
            XCTAssertEqual(path, truncated)
        }
    }

    func testWriteRejectsDuplicateAndReservedNames() {
        let path = tempDir.appendingPathComponent("dup.safetensors").path
        let dup = SafetensorsFile(tensors: [
            SafetensorsTensor(name: "w", shape: [1], floats: [1]),
            SafetensorsTensor(name: "w", shape: [1], floats: [2]),
        ])
        XCTAssertThrowsError(try dup.write(path: path)) { error in
            XCTAssertEqual(error as? SafetensorsError, .duplicateName(path: path, name: "w"))
        }
        let reserved = SafetensorsFile(tensors: [SafetensorsTensor(name: "__metadata__", shape: [1], floats: [1])])
        XCTAssertThrowsError(try reserved.write(path: path)) { error in
            XCTAssertEqual(error as? SafetensorsError, .reservedName(path: path, name: "__metadata__"))
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: path), "nothing is written on invalid names")
    }

    // MARK: - Cross-check with the reference implementation (Python `safetensors`)

    private static let scriptPath = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().appendingPathComponent("safetensors_check.py").path

    /// A JSON string literal (escaping `"`, `\` and control characters).
    private func jsonString(_ s: String) -> String {
        var out = "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case _ where scalar.value < 0x20: out += String(format: "\\u%04x", scalar.value)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }

    /// A JSON number for Python's `json` (which accepts NaN / Infinity / -Infinity).
    private func jsonNumber(_ x: Double) -> String {
        if x.isNaN { return "NaN" }
        if x.isInfinite { return x < 0 ? "-Infinity" : "Infinity" }
        return x.description
    }

    /// The expectation argument of `safetensors_check.py check`, built from typed values (not bytes).
    private func expectationJSON(_ file: SafetensorsFile) -> String {
        let tensors = file.tensors.map { tensor -> String in
            let values: [String]
            switch tensor.dtype {
            case .f32: values = tensor.floats.map { jsonNumber(Double($0)) }
            case .f64: values = tensor.float64s.map(jsonNumber)
            case .i32: values = tensor.int32s.map(String.init)
            case .i64: values = tensor.int64s.map(String.init)
            case .u8: values = tensor.bytes.map(String.init)
            }
            let shape = tensor.shape.map(String.init).joined(separator: ",")
            return "\(jsonString(tensor.name)):{\"dtype\":\"\(tensor.dtype.rawValue)\",\"shape\":[\(shape)],"
                + "\"values\":[\(values.joined(separator: ","))]}"
        }
        let metadata = file.metadata.isEmpty ? "null"
            : "{" + file.metadata.map { "\(jsonString($0.key)):\(jsonString($0.value))" }.joined(separator: ",") + "}"
        return "{\"tensors\":{\(tensors.joined(separator: ","))},\"metadata\":\(metadata)}"
    }

    func testReferenceImplementationReadsSwiftFile() throws {
        try Python.require("safetensors", "numpy", hint: "pip install safetensors numpy")
        let path = tempDir.appendingPathComponent("swift.safetensors").path
        let file = sampleFile()
        try file.write(path: path)
        let result = try Python.run([Self.scriptPath, "check", path, expectationJSON(file)])
        XCTAssertEqual(result.status, 0, result.output)
        XCTAssertTrue(result.output.contains("OK: \(file.tensors.count) tensors match"), result.output)

        // Negative control: the checker must notice a single changed value.
        var altered = file
        altered.tensors[1] = SafetensorsTensor(name: "layer.0.bias", shape: [4], floats: [0.1, 0.2, -0.3, 2e-30])
        let mismatch = try Python.run([Self.scriptPath, "check", path, expectationJSON(altered)])
        XCTAssertEqual(mismatch.status, 1, mismatch.output)
        XCTAssertTrue(mismatch.output.contains("MISMATCH: 'layer.0.bias'"), mismatch.output)
    }

    func testSwiftReadsReferenceFile() throws {
        try Python.require("safetensors", "numpy", hint: "pip install safetensors numpy")
        let path = tempDir.appendingPathComponent("python.safetensors").path
        let result = try Python.run([Self.scriptPath, "write", path])
        XCTAssertEqual(result.status, 0, result.output)
        let file = try SafetensorsFile.read(path: path)

        // Keep in sync with reference_tensors() in safetensors_check.py.
        XCTAssertEqual(Set(file.tensors.map(\.name)),
                       ["weight", "bias", "steps", "labels", "mask", "scalar", "empty"])
        XCTAssertEqual(file.metadata, ["format": "np", "note": "quote \" backslash \\ newline \n café"])
        XCTAssertEqual(file["weight"]?.dtype, .f32)
        XCTAssertEqual(file["weight"]?.shape, [2, 3])
        XCTAssertEqual(file["weight"]?.floats, [-0.5, -0.25, 0, 0.25, 0.5, 0.75])
        XCTAssertEqual(file["bias"]?.dtype, .f64)
        XCTAssertEqual(file["bias"]?.float64s, [1.5, -2.25, 1e300])
        XCTAssertEqual(file["steps"]?.dtype, .i64)
        XCTAssertEqual(file["steps"]?.shape, [2, 2])
        XCTAssertEqual(file["steps"]?.int64s, [.min, .max, 0, 42])
        XCTAssertEqual(file["labels"]?.dtype, .i32)
        XCTAssertEqual(file["labels"]?.shape, [1, 3])
        XCTAssertEqual(file["labels"]?.int32s, [-1, 0, 7])
        XCTAssertEqual(file["mask"]?.dtype, .u8)
        XCTAssertEqual(file["mask"]?.bytes, [0, 1, 255])
        XCTAssertEqual(file["scalar"]?.shape, [])
        XCTAssertEqual(file["scalar"]?.floats, [3.5])
        XCTAssertEqual(file["empty"]?.shape, [0, 4])
        XCTAssertEqual(file["empty"]?.bytes, [])

        // Re-encoding the reference file must still be readable and equal.
        XCTAssertEqual(try SafetensorsFile.decode(file.encoded()), file)
    }

    func testEncoderMatchesReferenceBytes() throws {
        try Python.require("safetensors", "numpy", hint: "pip install safetensors numpy")
        let path = tempDir.appendingPathComponent("single.safetensors").path
        let result = try Python.run([Self.scriptPath, "write-single", path])
        XCTAssertEqual(result.status, 0, result.output)
        let reference = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
        let swift = SafetensorsFile(tensors: [SafetensorsTensor(name: "w", shape: [2], floats: [1, -2])]).encoded()
        XCTAssertEqual(swift, reference)
    }
}
