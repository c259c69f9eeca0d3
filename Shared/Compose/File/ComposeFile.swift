import Foundation

/// A parsed and validated compose file: the services of a cluster, in dependency order.
public struct ComposeFile: Sendable, Equatable {
    /// The file as named when loaded or parsed, for messages.
    public var file: String
    /// The directory relative paths in the file (`working_dir`, a command given as a path) resolve against.
    public var directory: String
    /// The services, each after the ones it depends on (and otherwise in file order).
    public var services: [ComposeService]
    /// The HMAC secret every service gets as `SAGAFLOW_SECRET` (from `x-sagaflow.secret`), unless its
    /// `environment` sets one.
    public var secret: String?

    /// An already validated file; `load` and `parse` are the usual way to get one.
    public init(file: String, directory: String, services: [ComposeService], secret: String? = nil) {
        self.file = file
        self.directory = directory
        self.services = services
        self.secret = secret
    }

    /// The service called `name`.
    public func service(_ name: String) -> ComposeService? {
        services.first { $0.name == name }
    }

    /// Reads, parses and validates the file at `path`.
    public static func load(path: String) throws(ComposeError) -> ComposeFile {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw ComposeError(.unreadableFile, file: path, message: "cannot read: \(error.localizedDescription)")
        }
        return try parse(text, file: path)
    }

    /// Parses and validates `yaml`; `file` names it in errors, and its directory anchors relative paths.
    ///
    /// Every key must be known at every level (top-level `x-…` extension keys excepted), every service needs a
    /// `command`, dependencies must exist and not form a cycle, and every `${…}` must be one the launcher fills.
    public static func parse(_ yaml: String, file: String) throws(ComposeError) -> ComposeFile {
        let directory = URL(fileURLWithPath: file).deletingLastPathComponent().standardizedFileURL.path
        let parsed = try ComposeParser(file: file).parse(yaml, directory: directory)
        return try parsed.validated()
    }
}

/// One service: how to run it, where it listens, what it needs first, how to tell it is healthy.
public struct ComposeService: Sendable, Equatable {
    /// The service's name, the key under `services`.
    public var name: String
    /// The executable (a name in the bin directory, or a path) followed by its arguments; may use `${…}`.
    public var command: [String]
    /// Environment variables given to the process; values may use `${…}`.
    public var environment: [String: String]
    /// The port it listens on when run on the file's ports; nil for a service without one.
    public var port: Int?
    /// The services that must be started (or healthy) before this one.
    public var dependencies: [ComposeDependency]
    /// How to tell it is ready; nil = ready once started.
    public var healthcheck: ComposeHealthCheck?
    /// What to do when it exits on its own.
    public var restart: ComposeRestartPolicy
    /// Its data directory, relative to the run's data root (or absolute); defaults to the service name.
    public var data: String
    /// Where the process starts, relative to the file's directory; nil = the file's directory.
    public var workingDirectory: String?

    /// A service with every detail given.
    public init(
        name: String, command: [String], environment: [String: String] = [:], port: Int? = nil,
        dependencies: [ComposeDependency] = [], healthcheck: ComposeHealthCheck? = nil,
        restart: ComposeRestartPolicy = .no, data: String? = nil, workingDirectory: String? = nil
    ) {
        self.name = name
        self.command = command
        self.environment = environment
        self.port = port
        self.dependencies = dependencies
        self.healthcheck = healthcheck
        self.restart = restart
        self.data = data ?? name
        self.workingDirectory = workingDirectory
    }
}

/// One entry of `depends_on`.
public struct ComposeDependency: Sendable, Equatable {
    /// What must hold for the dependency before the dependent starts.
    public enum Condition: String, Sendable, Equatable {
        /// The process has been started (`depends_on` given as a list).
        case started = "service_started"
        /// Its healthcheck passes.
        case healthy = "service_healthy"
    }

    /// The service depended on.
    public var service: String
    /// What must hold for it.
    public var condition: Condition

    /// A dependency on `service`.
    public init(service: String, condition: Condition) {
        self.service = service
        self.condition = condition
    }
}

/// An HTTP healthcheck: `url` answers 2xx when the service is ready.
public struct ComposeHealthCheck: Sendable, Equatable {
    /// The URL to GET; may use `${PORT}` and the other `${…}`.
    public var url: String
    /// Time between probes.
    public var interval: Duration
    /// Failed probes in a row after which a starting service counts as unhealthy.
    public var retries: Int
    /// How long one probe may take.
    public var timeout: Duration

    /// A healthcheck with every detail given.
    public init(url: String, interval: Duration = .seconds(1), retries: Int = 30, timeout: Duration = .seconds(2)) {
        self.url = url
        self.interval = interval
        self.retries = retries
        self.timeout = timeout
    }

    /// How long a starting service may take to pass: `interval × retries`, plus a probe's timeout.
    public var startBudget: Duration { interval * retries + timeout }
}

/// The `restart` policy of a service.
public enum ComposeRestartPolicy: String, Sendable, Equatable {
    /// Never restarted by the launcher.
    case no
    /// Restarted, with backoff, after it exits with a non-zero status or is killed by a signal; not when stopped.
    case onFailure = "on-failure"
}
