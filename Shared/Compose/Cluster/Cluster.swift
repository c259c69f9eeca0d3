public import Foundation
public import Logging
import SagaHTTP
import Synchronization

/// The processes of a compose file, started in dependency order, health-checked, supervised and stopped.
///
/// Each service's output is appended to `<runDirectory>/logs/<service>.log` (and to `ClusterOptions.logSink`),
/// its pid is in `<runDirectory>/pids/<service>.pid`, and `<runDirectory>/cluster.json` describes the whole
/// cluster for another process (`readState`, `downDetached`). A supervising task, owned by the cluster and ended
/// by `down`, restarts services whose `restart` is `on-failure` when they crash or are killed.
public final class Cluster: Sendable {
    /// The service names, in dependency order.
    public let services: [String]
    let specs: [String: LaunchSpec]
    let options: ClusterOptions
    let logger: Logger
    /// Probes healthcheck URLs.
    let client: HTTPClient
    let runtime: Mutex<[String: ServiceRuntime]>
    let exits: AsyncStream<ExitEvent>.Continuation
    let supervisor = Mutex<Task<Void, Never>?>(nil)
    let isDown = Mutex(false)
    /// Serialises writes of `cluster.json` and the pid files.
    let stateFileLock = Mutex(())

    private init(specs: [LaunchSpec], options: ClusterOptions, logger: Logger, exits: AsyncStream<ExitEvent>.Continuation) {
        self.services = specs.map(\.name)
        self.specs = Dictionary(uniqueKeysWithValues: specs.map { ($0.name, $0) })
        self.options = options
        self.logger = logger
        self.client = HTTPClient(logger: logger)
        self.runtime = Mutex(Dictionary(uniqueKeysWithValues: specs.map { ($0.name, ServiceRuntime()) }))
        self.exits = exits
    }

    /// Starts every service of `file` in dependency order and returns once all are healthy.
    ///
    /// A service starts once the dependencies it waits for (`condition: service_healthy`) pass their healthcheck.
    /// If one cannot start, exits, or stays unhealthy past `interval × retries`, everything started is stopped
    /// and the error names the service and ends with the tail of its log.
    public static func up(_ file: ComposeFile, options: ClusterOptions, logger: Logger) async throws -> Cluster {
        var options = options
        let here = FileManager.default.currentDirectoryPath
        options.runDirectory = absolute(options.runDirectory, base: here)
        options.binDirectory = absolute(options.binDirectory, base: here)
        options.dataRoot = absolute(options.dataRoot, base: here)
        for directory in ["\(options.runDirectory)/logs", "\(options.runDirectory)/pids"] {
            do {
                try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            } catch {
                throw ClusterError(.setupFailed, message: "cannot create \(directory): \(error)")
            }
        }
        let specs = try LaunchSpec.resolve(file, options: options)
        let (stream, continuation) = AsyncStream.makeStream(of: ExitEvent.self)
        let cluster = Cluster(specs: specs, options: options, logger: logger, exits: continuation)
        cluster.supervisor.withLock { task in
            task = Task { [weak cluster] in await Cluster.supervise(stream) { cluster } }
        }
        do {
            for service in file.services {
                for dependency in service.dependencies where dependency.condition == .healthy {
                    try await cluster.awaitStartedHealthy(dependency.service)
                }
                _ = try cluster.startIfStopped(service.name)
            }
            for service in cluster.services { try await cluster.awaitStartedHealthy(service) }
        } catch {
            await cluster.down(grace: .seconds(2))
            throw error
        }
        logger.info(
            "cluster up",
            metadata: [
                "services": "\(cluster.services.joined(separator: ","))",
                "run.dir": "\(options.runDirectory)",
            ])
        return cluster
    }

    /// `http://127.0.0.1:<port>` of `service`, nil for an unknown service or one without a port.
    public func url(of service: String) -> String? { specs[service]?.url }

    /// The port `service` listens on.
    public func port(of service: String) -> Int? { specs[service]?.port }

    /// The pid of `service`'s running process; nil while it is stopped or between a crash and its restart.
    public func pid(of service: String) -> Int32? {
        runtime.withLock { $0[service]?.process }.flatMap { $0.termination == nil ? $0.pid : nil }
    }

    /// How many times each service was restarted by its `restart` policy.
    public var restarts: [String: Int] { runtime.withLock { $0.mapValues(\.restarts) } }

    /// The path of `service`'s log file.
    public func logFile(of service: String) -> String { "\(options.runDirectory)/logs/\(service).log" }

    /// Sends `signal` to `service`'s process; the supervisor restarts it as its `restart` policy says.
    public func kill(_ service: String, signal: Int32 = SIGKILL) {
        runtime.withLock { $0[service]?.process }?.signal(signal)
    }

    /// Stops `service` without a restart: SIGTERM, then SIGKILL after `grace`. It stays stopped until `start`.
    public func stop(_ service: String, grace: Duration = .seconds(5)) async {
        let process = runtime.withLock { all -> ServiceProcess? in
            all[service]?.wanted = false
            return all[service]?.process
        }
        if let process { await terminate(process, grace: grace) }
        persistState()
    }

    /// Starts a stopped `service` again, on the same port with the same data, and waits until it is healthy.
    public func start(_ service: String) async throws {
        guard specs[service] != nil else { throw unknown(service) }
        _ = try startIfStopped(service)
        try await awaitStartedHealthy(service)
    }

    /// Waits until `service` runs and passes its healthcheck, through restarts, for up to `timeout`.
    public func waitHealthy(_ service: String, timeout: Duration) async throws {
        guard specs[service] != nil else { throw unknown(service) }
        try await awaitHealthy(service, timeout: timeout, failIfEnds: nil)
    }

    /// Stops every service, dependents first: SIGTERM, then SIGKILL after `grace`. Returns when no process is
    /// left; the logs stay, `cluster.json` and the pid files go. Later calls do nothing.
    public func down(grace: Duration = .seconds(5)) async {
        guard !isDown.withLock({ isDown in defer { isDown = true }; return isDown }) else { return }
        let processes = runtime.withLock { all in
            services.reversed().compactMap { name -> ServiceProcess? in
                all[name]?.wanted = false
                return all[name]?.process
            }
        }
        let task = supervisor.withLock { $0 }
        task?.cancel()
        await task?.value
        exits.finish()
        for process in processes { await terminate(process, grace: grace) }
        client.shutdown()
        removeStateFiles()
        logger.info("cluster down", metadata: ["run.dir": "\(options.runDirectory)"])
    }

    /// SIGTERM, then SIGKILL if it is still there after `grace`; returns once it has ended.
    func terminate(_ process: ServiceProcess, grace: Duration) async {
        guard process.termination == nil else { return }
        process.signal(SIGTERM)
        if await process.waitForExit(timeout: grace) { return }
        logger.warning(
            "service ignored SIGTERM; killing it", metadata: ["service": "\(process.service)", "pid": "\(process.pid)"])
        process.signal(SIGKILL)
        _ = await process.waitForExit(timeout: .seconds(30))
    }

    func unknown(_ service: String) -> ClusterError {
        ClusterError(.unknownService, message: "no service '\(service)' (services: \(services.joined(separator: ", ")))")
    }

    deinit {
        // A cluster dropped without `down` must not leave processes behind.
        supervisor.withLock { $0 }?.cancel()
        for process in runtime.withLock({ $0.values.compactMap(\.process) }) { process.signal(SIGKILL) }
        exits.finish()
    }
}

/// What the cluster knows about one service between launches.
struct ServiceRuntime {
    /// The latest launch (running, or ended and not yet replaced).
    var process: ServiceProcess?
    /// Number of the latest launch.
    var generation = 0
    /// Whether it should be running: false after `stop` and `down`, so an exit then is not restarted.
    var wanted = false
    /// Restarts by policy so far.
    var restarts = 0
    /// Failures without a long enough run in between, for the restart backoff.
    var failuresInARow = 0
}
