import Foundation

/// A service made concrete for one run: ports chosen, `${…}` filled, executable found, directories made.
struct LaunchSpec: Sendable {
    var name: String
    var executable: String
    var arguments: [String]
    var environment: [String: String]
    var workingDirectory: String
    var port: Int?
    var url: String?
    var dataDirectory: String
    var healthURL: String?
    var healthcheck: ComposeHealthCheck?
    var restart: ComposeRestartPolicy

    /// The launch specs of every service of `file`, in dependency order.
    static func resolve(_ file: ComposeFile, options: ClusterOptions) throws(ClusterError) -> [LaunchSpec] {
        let withPorts = file.services.filter { $0.port != nil }
        let chosen = options.freePorts ? try freeLoopbackPorts(withPorts.count) : withPorts.map { $0.port! }
        let ports = Dictionary(uniqueKeysWithValues: zip(withPorts.map(\.name), chosen))
        let inherited = ProcessInfo.processInfo.environment
        return try file.services.map { service throws(ClusterError) in
            let dataDirectory = absolute(service.data, base: options.dataRoot)
            let variables = Interpolation.variables(for: service, ports: ports, dataDirectory: dataDirectory)
            func fill(_ text: String) throws(ClusterError) -> String {
                do {
                    return try Interpolation.fill(text, variables)
                } catch {
                    // `ComposeFile.parse` checked every value; only a hand-built file gets here.
                    throw ClusterError(.setupFailed, service: service.name, message: "cannot fill '\(text)': \(error)")
                }
            }
            var environment = inherited
            if let secret = file.secret { environment["SAGAFLOW_SECRET"] = secret }
            for (name, value) in service.environment { environment[name] = try fill(value) }
            environment.merge(options.environment) { _, override in override }
            let command = try service.command.map { word throws(ClusterError) in try fill(word) }
            let executable = command[0].contains("/")
                ? absolute(command[0], base: file.directory) : "\(options.binDirectory)/\(command[0])"
            guard FileManager.default.isExecutableFile(atPath: executable) else {
                throw ClusterError(
                    .executableNotFound, service: service.name,
                    message: "no executable at \(executable); build it first (swift build) or pass the right bin directory")
            }
            do {
                try FileManager.default.createDirectory(atPath: dataDirectory, withIntermediateDirectories: true)
            } catch {
                throw ClusterError(.setupFailed, service: service.name, message: "cannot create \(dataDirectory): \(error)")
            }
            return LaunchSpec(
                name: service.name, executable: ProcessTable.resolved(executable), arguments: Array(command.dropFirst()),
                environment: environment,
                workingDirectory: service.workingDirectory.map { absolute($0, base: file.directory) } ?? file.directory,
                port: ports[service.name], url: ports[service.name].map { "http://127.0.0.1:\($0)" },
                dataDirectory: dataDirectory, healthURL: try service.healthcheck.map { check throws(ClusterError) in try fill(check.url) },
                healthcheck: service.healthcheck, restart: service.restart)
        }
    }
}

/// `path` if absolute, else `base/path`, normalised.
func absolute(_ path: String, base: String) -> String {
    let url = path.hasPrefix("/") ? URL(fileURLWithPath: path) : URL(fileURLWithPath: base).appendingPathComponent(path)
    return url.standardizedFileURL.path
}
