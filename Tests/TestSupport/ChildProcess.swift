import Foundation
import Synchronization

/// A real executable started by a test, its standard error captured, stopped on `terminate()`.
public final class ChildProcess: Sendable {
    let process: Process
    let output = Mutex(Data())

    init(process: Process) {
        self.process = process
    }

    /// Starts `path` with the current environment plus `environment`.
    public static func launch(_ path: String, arguments: [String] = [], environment: [String: String] = [:]) throws
        -> ChildProcess
    {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { _, new in new }
        let pipe = Pipe()
        process.standardError = pipe
        process.standardOutput = pipe
        let child = ChildProcess(process: process)
        pipe.fileHandleForReading.readabilityHandler = { handle in
            let data = handle.availableData
            child.output.withLock { $0.append(data) }
        }
        try process.run()
        return child
    }

    /// Everything the process wrote so far.
    public var log: String { output.withLock { String(decoding: $0, as: UTF8.self) } }

    public var pid: Int32 { process.processIdentifier }

    /// The URL of the participant once its "ready" log line shows the bound port.
    public func waitForPort(timeout: Duration = .seconds(15)) async throws -> String {
        var port: String?
        try await waitUntil("the process to log its bound port", timeout: timeout) {
            if !process.isRunning { throw ChildProcessError(log: log) }
            let line = log.split(separator: "\n").first { $0.contains("ready") && $0.contains("http.port=") }
            port = line.flatMap { $0.firstMatch(of: /http\.port=(\d+)/).map { String($0.1) } }
            return port != nil
        }
        return "http://127.0.0.1:\(port!)"
    }

    /// Sends SIGTERM.
    public func terminate() { process.terminate() }

    /// Sends SIGKILL.
    public func kill() { _ = Foundation.kill(process.processIdentifier, SIGKILL) }

    /// Waits for the process to end and returns its exit status (or signal number).
    @discardableResult
    public func waitForExit(timeout: Duration = .seconds(15)) async throws -> Int32 {
        try await waitUntil("the process to exit", timeout: timeout) { !process.isRunning }
        return process.terminationStatus
    }

    deinit {
        if process.isRunning { _ = Foundation.kill(process.processIdentifier, SIGKILL) }
    }
}

/// The child exited before it became ready.
public struct ChildProcessError: Error, CustomStringConvertible {
    public var log: String
    public var description: String { "process exited early; its output:\n\(log)" }
}

/// Where `swift build` put the executables: `SAGAFLOW_BIN_DIR` (set by compose/test), else `.build/debug` of this checkout.
public func binaryDirectory() -> String {
    if let dir = ProcessInfo.processInfo.environment["SAGAFLOW_BIN_DIR"], !dir.isEmpty { return dir }
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    return root.appendingPathComponent(".build/debug").path
}
