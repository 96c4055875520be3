import Foundation

/// python3 for reference implementations and readers (numpy, safetensors, tensorboard).
/// A missing interpreter or module skips the test, or fails it in CI (`ExternalTool.missing`).
public enum Python {
    /// python3 on PATH.
    public static func executable() throws -> String {
        try ExternalTool.require("python3", hint: "scripts/install-deps.sh")
    }

    /// Skips (fails in CI) unless python3 imports every one of `modules`; `hint` says how
    /// to install them.
    public static func require(_ modules: String..., hint: String = "scripts/install-deps.sh") throws {
        let probe = try run(["-c", modules.map { "import \($0)" }.joined(separator: "; ")], timeout: 120)
        guard !probe.succeeded else { return }
        try ExternalTool.missing(
            "python3 with \(modules.joined(separator: ", ")) is unavailable (\(hint)): "
                + probe.stderr.trimmingCharacters(in: .whitespacesAndNewlines))
    }

    /// `python3 arguments...` (a script and its arguments, or `-c CODE`) with a deadline.
    public static func run(_ arguments: [String], timeout: Double = 120) throws -> Subprocess.Result {
        try Subprocess.run(try executable(), arguments, timeout: timeout)
    }
}
