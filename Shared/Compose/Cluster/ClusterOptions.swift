/// Where and how `Cluster.up` runs a compose file.
public struct ClusterOptions: Sendable {
    /// Holds `logs/<service>.log`, `pids/<service>.pid` and `cluster.json`.
    public var runDirectory: String
    /// Where a command's executable name (`orders`) is looked up: the build's bin directory.
    public var binDirectory: String
    /// Parent of each service's data directory (`data: orders` → `<dataRoot>/orders`).
    public var dataRoot: String
    /// Pick free loopback ports instead of the file's (tests, several clusters side by side).
    public var freePorts: Bool
    /// Environment variables set for every service, over the file's own.
    public var environment: [String: String]
    /// Receives each line a service writes (stdout and stderr), for a console; nil = only the log files.
    public var logSink: (@Sendable (_ service: String, _ line: String) -> Void)?

    /// Options; `dataRoot` defaults to `<runDirectory>/data`.
    public init(
        runDirectory: String, binDirectory: String, dataRoot: String? = nil, freePorts: Bool = false,
        environment: [String: String] = [:], logSink: (@Sendable (_ service: String, _ line: String) -> Void)? = nil
    ) {
        self.runDirectory = runDirectory
        self.binDirectory = binDirectory
        self.dataRoot = dataRoot ?? "\(runDirectory)/data"
        self.freePorts = freePorts
        self.environment = environment
        self.logSink = logSink
    }
}
