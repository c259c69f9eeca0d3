/// Why a cluster operation failed: a stable `code`, the service, and the end of its log when it helps.
public struct ClusterError: Error, Sendable, Hashable, CustomStringConvertible {
    /// Stable code of the failure.
    public struct Code: RawRepresentable, Sendable, Hashable, CustomStringConvertible {
        /// The code as written in `--json` output.
        public var rawValue: String
        public init(rawValue: String) { self.rawValue = rawValue }
        public var description: String { rawValue }

        /// The command's executable does not exist or cannot be run.
        public static let executableNotFound = Code(rawValue: "executable_not_found")
        /// The run directory, a data directory or a free port could not be set up.
        public static let setupFailed = Code(rawValue: "setup_failed")
        /// The process could not be started.
        public static let launchFailed = Code(rawValue: "launch_failed")
        /// The process ended before its healthcheck passed.
        public static let exitedBeforeHealthy = Code(rawValue: "exited_before_healthy")
        /// The healthcheck did not pass in time.
        public static let unhealthy = Code(rawValue: "unhealthy")
        /// No service of that name.
        public static let unknownService = Code(rawValue: "unknown_service")
        /// Processes of a detached cluster were still there after SIGKILL.
        public static let processesRemain = Code(rawValue: "processes_remain")
    }

    /// What kind of failure.
    public var code: Code
    /// The service at fault, when there is one.
    public var service: String?
    /// What is wrong and what to do, for a person.
    public var message: String
    /// The last lines of the service's log, when they explain the failure.
    public var logTail: [String]

    /// An error with every detail given.
    public init(_ code: Code, service: String? = nil, message: String, logTail: [String] = []) {
        self.code = code
        self.service = service
        self.message = message
        self.logTail = logTail
    }

    /// `service 'x': message`, then the log tail indented.
    public var description: String {
        var text = service.map { "service '\($0)': \(message)" } ?? message
        if !logTail.isEmpty {
            text += "\nlast lines of its log:\n" + logTail.map { "  | \($0)" }.joined(separator: "\n")
        }
        return text
    }
}
