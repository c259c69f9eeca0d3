#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation
import Logging
import Synchronization

/// What `<runDirectory>/cluster.json` records, so another process can list (`ps`) and stop (`down`) a cluster.
public struct ClusterState: Codable, Sendable, Equatable {
    /// One service of the cluster.
    public struct Service: Codable, Sendable, Equatable {
        /// The service's name in the compose file.
        public var name: String
        /// Its running process; nil while stopped or between a crash and the restart.
        public var pid: Int32?
        /// The port it listens on.
        public var port: Int?
        /// `http://127.0.0.1:<port>`.
        public var url: String?
        /// Its healthcheck URL, `${…}` filled.
        public var healthURL: String?
        /// The resolved executable, to tell a live pid of ours from a reused one.
        public var executable: String
        /// Where its output goes.
        public var logFile: String
        /// Its data directory.
        public var dataDirectory: String
        /// Restarts by policy so far.
        public var restarts: Int
    }

    /// The process that runs and supervises the cluster (`sagaflow up`).
    public var supervisorPID: Int32
    /// Its executable, when known.
    public var supervisorExecutable: String?
    /// The run directory, absolute.
    public var runDirectory: String
    /// The services in dependency order.
    public var services: [Service]
}

extension Cluster {
    /// A snapshot of the cluster as `cluster.json` records it.
    public var state: ClusterState {
        let current = runtime.withLock { all in all.mapValues { ($0.process, $0.restarts) } }
        let pid = getpid()
        return ClusterState(
            supervisorPID: pid, supervisorExecutable: ProcessTable.executablePath(of: pid),
            runDirectory: options.runDirectory,
            services: services.map { name in
                let spec = specs[name]!
                let process = current[name]?.0
                return ClusterState.Service(
                    name: name, pid: process.flatMap { $0.termination == nil ? $0.pid : nil }, port: spec.port,
                    url: spec.url, healthURL: spec.healthURL, executable: spec.executable, logFile: logFile(of: name),
                    dataDirectory: spec.dataDirectory, restarts: current[name]?.1 ?? 0)
            })
    }

    /// Writes `cluster.json` and the pid files from the current state (not after `down`).
    func persistState() {
        stateFileLock.withLock { _ in
            guard !isDown.withLock({ $0 }) else { return }
            let snapshot = state
            let directory = options.runDirectory
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            do {
                try encoder.encode(snapshot).write(to: URL(fileURLWithPath: "\(directory)/cluster.json"), options: .atomic)
                for service in snapshot.services {
                    let path = "\(directory)/pids/\(service.name).pid"
                    if let pid = service.pid {
                        try Data("\(pid)\n".utf8).write(to: URL(fileURLWithPath: path), options: .atomic)
                    } else {
                        try? FileManager.default.removeItem(atPath: path)
                    }
                }
            } catch {
                logger.error("cannot write the cluster state", metadata: ["run.dir": "\(directory)", "error": "\(error)"])
            }
        }
    }

    /// Removes `cluster.json` and the pid files once nothing runs.
    func removeStateFiles() {
        stateFileLock.withLock { _ in Self.removeStateFiles(runDirectory: options.runDirectory, services: services) }
    }

    private static func removeStateFiles(runDirectory: String, services: [String]) {
        try? FileManager.default.removeItem(atPath: "\(runDirectory)/cluster.json")
        for name in services { try? FileManager.default.removeItem(atPath: "\(runDirectory)/pids/\(name).pid") }
    }

    /// The state recorded in `<runDirectory>/cluster.json`; nil when no cluster runs there.
    public static func readState(runDirectory: String) throws -> ClusterState? {
        let path = "\(runDirectory)/cluster.json"
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        return try JSONDecoder().decode(ClusterState.self, from: data)
    }

    /// Stops a cluster started by another process (`sagaflow up -d`): SIGTERM to its supervisor so it shuts
    /// down itself, then to any recorded service still alive, SIGKILL after `grace`; returns once all are gone.
    ///
    /// Only pids that still run the recorded executable are signalled, so a reused pid is left alone.
    public static func downDetached(runDirectory: String, grace: Duration = .seconds(5)) async throws {
        guard let state = try readState(runDirectory: runDirectory) else { return }
        let supervisor = state.supervisorPID
        if supervisor != getpid(), isOurs(supervisor, executable: state.supervisorExecutable) {
            ProcessTable.send(SIGTERM, to: supervisor)
            if !(await ProcessTable.waitUntilGone([supervisor], timeout: grace * (state.services.count + 1))) {
                ProcessTable.send(SIGKILL, to: supervisor)
                _ = await ProcessTable.waitUntilGone([supervisor], timeout: .seconds(5))
            }
        }
        let alive = state.services.reversed().compactMap { service in
            service.pid.flatMap { isOurs($0, executable: service.executable) ? $0 : nil }
        }
        for pid in alive { ProcessTable.send(SIGTERM, to: pid) }
        if !(await ProcessTable.waitUntilGone(alive, timeout: grace)) {
            for pid in alive where ProcessTable.isAlive(pid) { ProcessTable.send(SIGKILL, to: pid) }
            guard await ProcessTable.waitUntilGone(alive, timeout: .seconds(10)) else {
                let left = alive.filter(ProcessTable.isAlive).map(String.init).joined(separator: ", ")
                throw ClusterError(.processesRemain, message: "processes \(left) are still running after SIGKILL")
            }
        }
        removeStateFiles(runDirectory: runDirectory, services: state.services.map(\.name))
    }

    private static func isOurs(_ pid: Int32, executable: String?) -> Bool {
        guard let executable else { return ProcessTable.isAlive(pid) }
        return ProcessTable.isRunning(pid, executable: executable)
    }
}
