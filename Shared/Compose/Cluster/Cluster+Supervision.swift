import Foundation
import Logging
import Synchronization

/// A service process ended; `generation` tells which launch.
struct ExitEvent: Sendable {
    var service: String
    var generation: Int
    var termination: Termination
    var ranFor: Duration
}

extension Cluster {
    /// Restart backoff: 100 ms after the first failure, doubling up to 2 s.
    static func restartDelay(afterFailures failures: Int) -> Duration {
        min(.milliseconds(100) * (1 << min(failures - 1, 5)), .seconds(2))
    }

    /// A run at least this long resets the backoff.
    static let stableRun = Duration.seconds(10)

    /// The supervising loop: one child task per exit, so one service's backoff never delays another's restart.
    /// Ends when cancelled (by `down`) or when the cluster is gone.
    static func supervise(_ exits: AsyncStream<ExitEvent>, cluster: () -> Cluster?) async {
        await withDiscardingTaskGroup { group in
            for await event in exits {
                guard let cluster = cluster() else { return }
                group.addTask { await cluster.handleExit(event) }
            }
        }
    }

    /// Marks `name` wanted and launches it unless it is already running.
    func startIfStopped(_ name: String) throws(ClusterError) -> ServiceProcess {
        let spec = specs[name]!
        let process = try runtime.withLock { all throws(ClusterError) -> ServiceProcess in
            var service = all[name]!
            service.wanted = true
            if let running = service.process, running.termination == nil {
                all[name] = service
                return running
            }
            let launched = try launch(spec, &service)
            all[name] = service
            return launched
        }
        persistState()
        return process
    }

    /// Starts a new generation of `spec`; called with the runtime lock held, so launches and `stop` never interleave.
    private func launch(_ spec: LaunchSpec, _ service: inout ServiceRuntime) throws(ClusterError) -> ServiceProcess {
        service.generation += 1
        let process = try ServiceProcess.launch(
            spec, generation: service.generation, logFile: logFile(of: spec.name), sink: options.logSink
        ) { [exits] process, termination in
            exits.yield(
                ExitEvent(
                    service: process.service, generation: process.generation, termination: termination,
                    ranFor: .now - process.startedAt))
        }
        service.process = process
        logger.info(
            "service started",
            metadata: [
                "service": "\(spec.name)", "pid": "\(process.pid)", "http.port": "\(spec.port.map(String.init) ?? "-")",
                "generation": "\(service.generation)",
            ])
        return process
    }

    /// Restarts the service after a failure when its policy says so and nobody stopped it meanwhile.
    func handleExit(_ event: ExitEvent) async {
        let spec = specs[event.service]!
        let delay = runtime.withLock { all -> Duration? in
            guard var service = all[event.service], service.generation == event.generation, service.wanted,
                spec.restart == .onFailure, event.termination.isFailure
            else { return nil }
            if event.ranFor >= Self.stableRun { service.failuresInARow = 0 }
            service.failuresInARow += 1
            all[event.service] = service
            return Self.restartDelay(afterFailures: service.failuresInARow)
        }
        let wanted = runtime.withLock { $0[event.service]?.wanted ?? false }
        var metadata: Logger.Metadata = ["service": "\(event.service)", "exit": "\(event.termination)"]
        guard let delay else {
            if wanted, event.termination.isFailure {
                logger.error("service exited; not restarting (restart: \(spec.restart.rawValue))", metadata: metadata)
            } else {
                logger.info("service exited", metadata: metadata)
            }
            persistState()
            return
        }
        metadata["restart.in"] = "\(delay)"
        logger.warning("service exited; restarting", metadata: metadata)
        guard (try? await Task.sleep(for: delay)) != nil else { return }
        do {
            let restarted = try runtime.withLock { all throws(ClusterError) -> Bool in
                guard var service = all[event.service], service.generation == event.generation, service.wanted else {
                    return false
                }
                _ = try launch(spec, &service)
                service.restarts += 1
                all[event.service] = service
                return true
            }
            if restarted { persistState() }
        } catch {
            logger.error("service could not be restarted", metadata: ["service": "\(event.service)", "error": "\(error)"])
        }
    }
}
