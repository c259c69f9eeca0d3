import Foundation

/// Waits until `condition` holds, checking every few milliseconds; fails the caller with a clear error at the deadline.
/// Use instead of sleeping a fixed time.
public func waitUntil(
    _ what: @autoclosure () -> String = "condition", timeout: Duration = .seconds(10),
    interval: Duration = .milliseconds(10), _ condition: () async throws -> Bool
) async throws {
    let deadline = ContinuousClock.now + timeout
    while true {
        if try await condition() { return }
        guard ContinuousClock.now < deadline else { throw WaitTimeout(what: what(), timeout: timeout) }
        try await Task.sleep(for: interval)
    }
}

/// A wait that passed its deadline.
public struct WaitTimeout: Error, CustomStringConvertible {
    public var what: String
    public var timeout: Duration
    public var description: String { "timed out after \(timeout) waiting for \(what)" }
}

/// A fresh directory under the system temp dir, removed by `remove()`.
public struct TemporaryDirectory: Sendable {
    public let path: String

    public init(_ prefix: String = "sagaflow-test") throws {
        path = NSTemporaryDirectory() + "\(prefix)-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    public func remove() {
        try? FileManager.default.removeItem(atPath: path)
    }
}
