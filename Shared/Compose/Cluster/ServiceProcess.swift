#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation
import Synchronization

/// How a service process ended.
package struct Termination: Sendable, Equatable, CustomStringConvertible {
    /// The exit status, or the signal number when `signaled`.
    package var status: Int32
    package var signaled: Bool

    /// A crash, a kill or a non-zero exit: what `restart: on-failure` restarts.
    var isFailure: Bool { signaled || status != 0 }

    package var description: String { signaled ? "killed by signal \(status)" : "exited with status \(status)" }
}

/// One run of a service's process: its output goes to the log file and, line by line, to the sink.
///
/// Started with `posix_spawn` rather than Foundation's `Process`, because the child must begin with no signal
/// blocked and every signal at its default action: a child of a Swift process otherwise inherits the spawning
/// thread's blocked signals (SIGTERM among them) and any SIGTERM/SIGINT the launcher ignores to handle them itself,
/// and then `stop` and `down` could only end it with SIGKILL. It gets its own process group, so Ctrl-C reaches the
/// launcher alone, which stops the services in order.
///
/// Two dedicated threads per run, never the Swift concurrency pool: one copies the output pipe (blocking reads),
/// one waits for the exit (blocking `waitpid`) and reaps the child.
package final class ServiceProcess: Sendable {
    let service: String
    /// Which launch of the service this is (1, 2, …); exit events carry it so stale ones are ignored.
    let generation: Int
    /// The process id.
    package let pid: Int32
    let startedAt: ContinuousClock.Instant
    private let state = Mutex<(termination: Termination?, outputClosed: Bool)>((nil, false))

    private init(service: String, generation: Int, pid: Int32) {
        self.service = service
        self.generation = generation
        self.pid = pid
        self.startedAt = .now
    }

    /// How it ended; nil while it runs.
    package var termination: Termination? { state.withLock { $0.termination } }

    /// Starts a plain command, not a compose service (tests use it: Foundation's `Process.run()` can crash on Linux,
    /// swift-corelibs-foundation#5472), in the current directory, with the current environment plus `environment`.
    package static func launch(
        command executable: String, arguments: [String], environment: [String: String], logFile: String,
        sink: @escaping @Sendable (String) -> Void
    ) throws(ClusterError) -> ServiceProcess {
        let spec = LaunchSpec(
            name: URL(fileURLWithPath: executable).lastPathComponent, executable: executable, arguments: arguments,
            environment: ProcessInfo.processInfo.environment.merging(environment) { _, new in new },
            workingDirectory: FileManager.default.currentDirectoryPath, port: nil, url: nil, dataDirectory: "", healthURL: nil,
            healthcheck: nil, restart: .no)
        return try launch(spec, generation: 1, logFile: logFile, sink: { _, line in sink(line) }, onExit: { _, _ in })
    }

    /// Starts `spec`'s command, appending its output to `logFile`; `onExit` is called once when it has ended
    /// and been reaped.
    static func launch(
        _ spec: LaunchSpec, generation: Int, logFile: String, sink: (@Sendable (String, String) -> Void)?,
        onExit: @escaping @Sendable (ServiceProcess, Termination) -> Void
    ) throws(ClusterError) -> ServiceProcess {
        let log = open(logFile, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        guard log >= 0 else {
            throw ClusterError(.setupFailed, service: spec.name, message: "cannot open \(logFile): errno \(errno)")
        }
        // Both ends close-on-exec, so no other child inherits them; the child gets the write end as fd 1 and 2.
        var ends: [Int32] = [-1, -1]
        guard pipe(&ends) == 0, fcntl(ends[0], F_SETFD, FD_CLOEXEC) == 0, fcntl(ends[1], F_SETFD, FD_CLOEXEC) == 0 else {
            close(log)
            throw ClusterError(.setupFailed, service: spec.name, message: "cannot create a pipe: errno \(errno)")
        }
        let spawned = Spawn.run(
            spec.executable, arguments: spec.arguments, environment: spec.environment,
            workingDirectory: spec.workingDirectory, output: ends[1])
        close(ends[1])
        let pid: Int32
        switch spawned {
        case .success(let child):
            pid = child
        case .failure(let message):
            close(ends[0])
            close(log)
            throw ClusterError(.launchFailed, service: spec.name, message: "cannot start \(spec.executable): \(message)")
        }
        let launched = ServiceProcess(service: spec.name, generation: generation, pid: pid)
        let reader = ends[0]
        Thread { launched.copyOutput(from: reader, to: log, sink: sink) }.start()
        Thread {
            let termination = Spawn.waitForExit(pid)
            launched.state.withLock { $0.termination = termination }
            onExit(launched, termination)
        }.start()
        return launched
    }

    /// Sends `signal` unless the process has already ended.
    package func signal(_ signal: Int32) {
        guard termination == nil else { return }
        ProcessTable.send(signal, to: pid)
    }

    /// Waits up to `timeout` for the process to end; true when it has.
    func waitForExit(timeout: Duration) async -> Bool {
        await poll(timeout: timeout) { termination != nil }
    }

    /// Waits up to `timeout` for everything the process wrote to reach the log file.
    func waitForOutput(timeout: Duration) async {
        _ = await poll(timeout: timeout) { state.withLock { $0.outputClosed } }
    }

    /// Runs on the reader thread until the pipe's last writer is gone.
    private func copyOutput(from pipe: Int32, to log: Int32, sink: (@Sendable (String, String) -> Void)?) {
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        var partial: [UInt8] = []
        while true {
            let count = buffer.withUnsafeMutableBytes { read(pipe, $0.baseAddress, $0.count) }
            if count < 0, errno == EINTR { continue }
            guard count > 0 else { break }
            buffer.withUnsafeBytes { bytes in
                var offset = 0
                while offset < count {
                    let written = write(log, bytes.baseAddress! + offset, count - offset)
                    if written < 0, errno == EINTR { continue }
                    guard written > 0 else { break }
                    offset += written
                }
            }
            guard let sink else { continue }
            partial.append(contentsOf: buffer[0..<count])
            while let newline = partial.firstIndex(of: UInt8(ascii: "\n")) {
                sink(service, String(decoding: partial[..<newline], as: UTF8.self))
                partial.removeSubrange(...newline)
            }
        }
        if let sink, !partial.isEmpty { sink(service, String(decoding: partial, as: UTF8.self)) }
        close(pipe)
        close(log)
        state.withLock { $0.outputClosed = true }
    }
}
