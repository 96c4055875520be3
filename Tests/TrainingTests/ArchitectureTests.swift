import Foundation
import XCTest

/// ARCHITECTURE.md's module graph is the truth about the code: it equals the dependencies
/// `Package.swift` declares for every product target, and no source file imports a module
/// of ours (or a C module, or ArgumentParser) that its target's line does not name.
final class ArchitectureTests: XCTestCase {
    private let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    /// target -> dependencies from the `<!-- module graph -->` block.
    private func documentedGraph() throws -> [String: Set<String>] {
        let text = try String(contentsOf: root.appendingPathComponent("ARCHITECTURE.md"), encoding: .utf8)
        let marker = try XCTUnwrap(text.range(of: "<!-- module graph"), "ARCHITECTURE.md lost its module graph")
        let open = try XCTUnwrap(text.range(of: "```\n", range: marker.upperBound..<text.endIndex))
        let close = try XCTUnwrap(text.range(of: "```", range: open.upperBound..<text.endIndex))
        var graph: [String: Set<String>] = [:]
        for line in text[open.upperBound..<close.lowerBound].split(separator: "\n") {
            let parts = line.components(separatedBy: "->")
            XCTAssertEqual(parts.count, 2, "malformed graph line: \(line)")
            let name = parts[0].trimmingCharacters(in: .whitespaces)
            graph[name] = Set(parts[1].split(separator: " ").map(String.init))
        }
        return graph
    }

    /// target -> dependencies of every non-test target in Package.swift (system libraries excluded).
    private func declaredGraph() throws -> [String: Set<String>] {
        let text = try String(contentsOf: root.appendingPathComponent("Package.swift"), encoding: .utf8)
        var graph: [String: Set<String>] = [:]
        var rest = text[...]
        while let start = rest.range(of: #"\.(target|executableTarget)\("#, options: .regularExpression) {
            var depth = 1
            var index = start.upperBound
            while depth > 0, index < rest.endIndex {
                if rest[index] == "(" { depth += 1 } else if rest[index] == ")" { depth -= 1 }
                index = rest.index(after: index)
            }
            let call = String(rest[start.upperBound..<index])
            rest = rest[index...]
            guard let name = Self.capture(#"name: "([^"]+)""#, in: call), !call.contains("path: \"Tests/") else { continue }
            var dependencies: Set<String> = []
            if let list = Self.capture(#"dependencies: \[([^\]]*)\]"#, in: call) {
                for token in list.split(whereSeparator: { ", \n".contains($0) }) where !token.isEmpty {
                    let word = token.trimmingCharacters(in: CharacterSet(charactersIn: "\""))
                    dependencies.insert(word == "argumentParser" ? "ArgumentParser" : word)
                }
            }
            graph[String(name)] = dependencies
        }
        return graph
    }

    /// The first group of `pattern`'s first match in `text`.
    private static func capture(_ pattern: String, in text: String) -> String? {
        let expression = try! NSRegularExpression(pattern: pattern)
        guard let match = expression.firstMatch(in: text, range: NSRange(text.startIndex..., in: text)),
              let range = Range(match.range(at: 1), in: text)
        else { return nil }
        return String(text[range])
    }

    func testTheDocumentedGraphIsPackageSwifts() throws {
        let documented = try documentedGraph(), declared = try declaredGraph()
        XCTAssertFalse(declared.isEmpty)
        XCTAssertEqual(Set(documented.keys), Set(declared.keys), "targets differ between ARCHITECTURE.md and Package.swift")
        for (target, dependencies) in declared {
            XCTAssertEqual(documented[target], dependencies, "\(target): ARCHITECTURE.md and Package.swift disagree")
        }
    }

    func testEverySourceImportsOnlyWhatItsLineNames() throws {
        let graph = try documentedGraph()
        let ours = Set(graph.keys).union(graph.values.flatMap { $0 }).union(["CBLAS", "CXSMM", "CMPI", "CZlib", "CCrypto"])
        var checked = 0
        for (target, allowed) in graph {
            let folder = root.appendingPathComponent("Sources").appendingPathComponent(target)
            let files = FileManager.default.enumerator(at: folder, includingPropertiesForKeys: nil)?
                .compactMap { $0 as? URL }.filter { $0.pathExtension == "swift" } ?? []
            for file in files {
                for line in try String(contentsOf: file, encoding: .utf8).split(separator: "\n") where line.hasPrefix("import ") {
                    let module = String(line.dropFirst(7)).trimmingCharacters(in: .whitespaces)
                    guard ours.contains(module) else { continue }  // Foundation, Glibc, XCTest...
                    XCTAssertTrue(allowed.contains(module), "\(target)/\(file.lastPathComponent) imports \(module), not in its line")
                    checked += 1
                }
            }
        }
        XCTAssertGreaterThan(checked, 50, "found too few imports: is the Sources layout what this test expects?")
    }
}
