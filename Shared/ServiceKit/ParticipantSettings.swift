public import Configuration
public import Foundation
public import SagaProtocol

/// The settings every participant reads: command line over environment over defaults (ARCHITECTURE.md §1).
public struct ParticipantSettings: Sendable {
    public var name: String
    public var host: String
    public var port: Int
    public var dataDirectory: String
    /// Where domain events go (`<url>/events`); nil = events are not published.
    public var orchestratorURL: String?
    /// Whether `PUT/GET/DELETE /admin/faults` are served.
    public var adminEnabled: Bool
    public var secrets: SigningSecrets?
    /// Fault plan from `SAGAFLOW_FAULTS`, active from start.
    public var faults: FaultPlan?
    /// `async`: answer commands with 202 and send the reply through the outbox.
    public var asyncReplies: Bool
    /// The service's whole configuration, for its own keys (demo data).
    public var reader: ConfigReader

    /// Reads the settings of participant `name` whose default port is `defaultPort`.
    public init(name: String, defaultPort: Int, reader: ConfigReader) throws {
        self.name = name
        self.reader = reader
        host = reader.string(forKey: "http.host", default: "127.0.0.1")
        port = reader.int(forKey: "http.port", default: defaultPort)
        dataDirectory = reader.string(forKey: "data.dir", default: "./data/\(name)")
        orchestratorURL = reader.string(forKey: "orchestrator.url").flatMap { $0.isEmpty ? nil : $0 }
        adminEnabled = reader.bool(forKey: "admin.enabled", default: false)
        secrets = SigningSecrets(reader.string(forKey: "sagaflow.secret"))
        let mode = reader.string(forKey: "reply.mode", default: "sync")
        guard mode == "sync" || mode == "async" else {
            throw SettingsError("reply.mode must be 'sync' or 'async', got '\(mode)'")
        }
        asyncReplies = mode == "async"
        if let text = reader.string(forKey: "sagaflow.faults"), !text.isEmpty {
            do {
                faults = try JSONCoding.decode(FaultPlan.self, from: Data(text.utf8))
            } catch {
                throw SettingsError("SAGAFLOW_FAULTS is not a valid fault plan: \(error)")
            }
        }
    }

    /// The standard reader: command line, then environment (`HTTP_PORT`, `SAGAFLOW_SECRET`, …), then `defaults`.
    public static func reader(
        arguments: [String] = CommandLine.arguments, environment: [String: String] = ProcessInfo.processInfo.environment,
        defaults: [AbsoluteConfigKey: ConfigValue] = [:]
    ) -> ConfigReader {
        ConfigReader(providers: [
            CommandLineArgumentsProvider(arguments: arguments, secretsSpecifier: .specific(["--sagaflow-secret"])),
            EnvironmentVariablesProvider(
                environmentVariables: environment, secretsSpecifier: .specific(["SAGAFLOW_SECRET"])),
            InMemoryProvider(values: defaults),
        ])
    }

    /// The `--help` text: every setting with its flag, variable and default.
    public static func help(name: String, defaultPort: Int, extra: [(flag: String, variable: String, what: String)] = [])
        -> String
    {
        let common: [(flag: String, variable: String, what: String)] = [
            ("--http-host HOST", "HTTP_HOST", "address to listen on (default 127.0.0.1)"),
            ("--http-port PORT", "HTTP_PORT", "port to listen on, 0 = any free port (default \(defaultPort))"),
            ("--data-dir DIR", "DATA_DIR", "where the SQLite file lives (default ./data/\(name))"),
            ("--orchestrator-url URL", "ORCHESTRATOR_URL", "where domain events are published (default: not published)"),
            ("--admin-enabled true", "ADMIN_ENABLED", "serve PUT/GET/DELETE /admin/faults (default false)"),
            ("--reply-mode sync|async", "REPLY_MODE", "async answers 202 and replies through the outbox (default sync)"),
            ("--sagaflow-secret S1,S2", "SAGAFLOW_SECRET", "HMAC secrets; first signs, all verify (default: open)"),
            ("--sagaflow-faults JSON", "SAGAFLOW_FAULTS", "fault plan active from start (ARCHITECTURE.md §6)"),
        ]
        let rows = (common + extra).map { row in
            "  \(row.flag.padding(toLength: 28, withPad: " ", startingAt: 0)) \(row.variable.padding(toLength: 20, withPad: " ", startingAt: 0)) \(row.what)"
        }
        return """
            USAGE: \(name) [options]

            The Sagaflow \(name) participant. Settings: command line > environment > defaults.

            OPTIONS:
            \(rows.joined(separator: "\n"))
              --help                                            show this help
            """
    }
}

/// A setting with a value the service cannot use.
public struct SettingsError: Error, CustomStringConvertible, Sendable {
    public var description: String

    public init(_ description: String) {
        self.description = description
    }
}

extension ParticipantSettings {
    /// Reads a `name=amount,name=amount` list (demo accounts, event capacities).
    public func amounts(forKey key: String, default defaultValue: String) throws -> [(name: String, amount: Int)] {
        let text = reader.string(forKey: ConfigKey(key), default: defaultValue)
        return try text.split(separator: ",").map { entry in
            let parts = entry.split(separator: "=").map { $0.trimmingCharacters(in: .whitespaces) }
            guard parts.count == 2, !parts[0].isEmpty, let amount = Int(parts[1]), amount >= 0 else {
                throw SettingsError("\(key): expected name=amount,name=amount, got '\(entry)'")
            }
            return (parts[0], amount)
        }
    }
}
