import Compose
import Foundation
import Synchronization

/// A real executable started by a test, its output captured, stopped on `terminate()`.
///
/// Started through Compose's `ServiceProcess` (`posix_spawn`), not Foundation's `Process`: `Process.run()` on Linux
/// crashed the whole test process now and then (a read past a `dirent` in swift-corelibs-foundation#5472).
public final class ChildProcess: Sendable {
    let process: ServiceProcess
    let lines: Lines
    let logFile: String

    init(process: ServiceProcess, lines: Lines, logFile: String) {
        self.process = process
        self.lines = lines
        self.logFile = logFile
    }

    /// Starts `path` with the current environment plus `environment`.
    public static func launch(_ path: String, arguments: [String] = [], environment: [String: String] = [:]) throws
        -> ChildProcess
    {
        let lines = Lines()
        let logFile = NSTemporaryDirectory() + "child-\(UUID().uuidString.prefix(8)).log"
        let process = try ServiceProcess.launch(
            command: path, arguments: arguments, environment: environment, logFile: logFile,
            sink: { line in lines.value.withLock { $0.append(line) } })
        return ChildProcess(process: process, lines: lines, logFile: logFile)
    }

    /// Everything the process wrote so far.
    public var log: String { lines.value.withLock { $0.joined(separator: "\n") } }

    public var pid: Int32 { process.pid }

    var isRunning: Bool { process.termination == nil }

    /// The URL of the participant once its "ready" log line shows the bound port.
    public func waitForPort(timeout: Duration = .seconds(15)) async throws -> String {
        var port: String?
        try await waitUntil("the process to log its bound port", timeout: timeout) {
            if !isRunning { throw ChildProcessError(log: log) }
            let line = log.split(separator: "\n").first { $0.contains("ready") && $0.contains("http.port=") }
            port = line.flatMap { $0.firstMatch(of: /http\.port=(\d+)/).map { String($0.1) } }
            return port != nil
        }
        return "http://127.0.0.1:\(port!)"
    }

    /// Sends SIGTERM.
    public func terminate() { process.signal(SIGTERM) }

    /// Sends SIGKILL.
    public func kill() { process.signal(SIGKILL) }

    /// Waits for the process to end and returns its exit status (or signal number).
    @discardableResult
    public func waitForExit(timeout: Duration = .seconds(15)) async throws -> Int32 {
        try await waitUntil("the process to exit", timeout: timeout) { !isRunning }
        return process.termination?.status ?? -1
    }

    deinit {
        process.signal(SIGKILL)
        try? FileManager.default.removeItem(atPath: logFile)
    }
}

/// The lines a child wrote, shared with the thread that reads its output.
final class Lines: Sendable {
    let value = Mutex<[String]>([])
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
