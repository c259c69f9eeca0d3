import Foundation
import SagaHTTP
import Synchronization

extension Cluster {
    /// Waits for the current run of `name` to pass its healthcheck within `interval × retries`; fails at once,
    /// with the end of its log, if that run ends first.
    func awaitStartedHealthy(_ name: String) async throws {
        let run = runtime.withLock { $0[name]?.process }
        let budget = specs[name]?.healthcheck?.startBudget ?? .seconds(10)
        try await awaitHealthy(name, timeout: budget, failIfEnds: run)
    }

    /// Probes `name` every healthcheck interval until it answers 2xx (or, without a healthcheck, runs).
    /// With `run`, fails as soon as that run ends; without, keeps probing through restarts.
    func awaitHealthy(_ name: String, timeout: Duration, failIfEnds run: ServiceProcess?) async throws {
        let spec = specs[name]!
        let deadline = ContinuousClock.now + timeout
        var problem = "not running"
        while true {
            if let run, let termination = run.termination {
                throw await failure(
                    .exitedBeforeHealthy, name, "\(termination) before its healthcheck passed; full log: \(logFile(of: name))",
                    process: run)
            }
            let process = runtime.withLock { $0[name]?.process }
            if let process, process.termination == nil {
                guard let url = spec.healthURL, let check = spec.healthcheck else { return }
                do {
                    let response = try await client.get(url, timeout: check.timeout)
                    if (200..<300).contains(response.status) { return }
                    problem = "\(url) answered \(response.status)"
                } catch {
                    problem = "\(url): \(error)"
                }
            } else {
                problem = "not running"
            }
            guard ContinuousClock.now < deadline else {
                throw await failure(
                    .unhealthy, name, "not healthy after \(timeout) (\(problem)); full log: \(logFile(of: name))",
                    process: process)
            }
            try await Task.sleep(for: spec.healthcheck?.interval ?? .milliseconds(50))
        }
    }

    /// An error about `name` ending with its log's last lines (all of them, once an ended process's output is in).
    private func failure(_ code: ClusterError.Code, _ name: String, _ message: String, process: ServiceProcess?) async
        -> ClusterError
    {
        if let process, process.termination != nil { await process.waitForOutput(timeout: .seconds(2)) }
        return ClusterError(code, service: name, message: message, logTail: logTail(of: name))
    }

    /// The last `count` lines of `name`'s log file.
    public func logTail(of name: String, lines count: Int = 20) -> [String] {
        guard let handle = FileHandle(forReadingAtPath: logFile(of: name)) else { return [] }
        defer { try? handle.close() }
        let size = (try? handle.seekToEnd()) ?? 0
        try? handle.seek(toOffset: size > 65_536 ? size - 65_536 : 0)
        let text = String(decoding: (try? handle.readToEnd()) ?? Data(), as: UTF8.self)
        return text.split(separator: "\n").suffix(count).map(String.init)
    }
}
