import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Why a path cannot be written, in words a user can act on: Foundation's errors for
/// these cases read "NSCocoaErrorDomain error 512", naming neither the path nor the reason.
public enum PathCheck {
    /// What the caller wants to make at the path.
    public enum Kind: Sendable {
        /// A directory, created with its missing parents (a run directory, a TensorBoard directory).
        case directory
        /// A file, replacing one that is there (a report).
        case file
    }

    /// The problem with making `kind` at `path`, naming the path at fault, e.g.
    /// "runs/x is not a directory", "out is a directory", "/data: permission denied";
    /// nil when nothing is visibly wrong.
    public static func problem(_ path: String, as kind: Kind) -> String? {
        let absolute = path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
        let components = absolute.split(separator: "/", omittingEmptySubsequences: true).map(String.init)
        var prefix = ""
        var nearestExisting = "/"
        for (i, component) in components.enumerated() {
            prefix += "/" + component
            let shown = i == components.count - 1 ? path : display(prefix, for: path, absolute: absolute)
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: prefix, isDirectory: &isDirectory) else { break }
            let isLast = i == components.count - 1
            if !isDirectory.boolValue {
                if isLast && kind == .file { nearestExisting = String(prefix.dropLast(component.count + 1)); break }
                return "\(shown) is not a directory"
            }
            if isLast && kind == .file { return "\(shown) is a directory" }
            nearestExisting = prefix
        }
        // Root is allowed everything, so this only bites for other users.
        if access(nearestExisting.isEmpty ? "/" : nearestExisting, W_OK | X_OK) != 0 && errno == EACCES {
            return "\(display(nearestExisting, for: path, absolute: absolute)): permission denied"
        }
        return nil
    }

    /// `prefix` as the user spelled it when it is part of their relative path.
    private static func display(_ prefix: String, for path: String, absolute: String) -> String {
        guard !path.hasPrefix("/") else { return prefix }
        let base = String(absolute.dropLast(path.count))
        return prefix.hasPrefix(base) && prefix.count > base.count ? String(prefix.dropFirst(base.count)) : prefix
    }
}
