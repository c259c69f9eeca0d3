public import Configuration
public import Foundation
public import SagaEngine
public import SagaProtocol

/// The orchestrator's settings: command line over environment over defaults (ARCHITECTURE.md §1).
public struct OrchestratorSettings: Sendable {
    public var host: String
    public var port: Int
    public var dataDirectory: String
    public var sagasDirectory: String
    /// Participant base URLs by service name (`services.<name>.url`, else the demo defaults on this host).
    public var serviceURLs: [String: String]
    public var secrets: SigningSecrets?
    /// Bearer token the public API requires when set (`api.token` / `API_TOKEN`).
    public var apiToken: String?
    public var crashPoints: CrashPoints
    /// The URL participants reach this orchestrator at (`orchestrator.url`), for `replyTo`; derived when unset.
    public var publicURL: String?

    /// Demo participants and their default ports.
    public static let defaultServices = ["orders": 8081, "payments": 8082, "booking": 8083]

    /// Reads every setting from `reader`.
    public init(reader: ConfigReader) throws {
        host = reader.string(forKey: "http.host", default: "127.0.0.1")
        port = reader.int(forKey: "http.port", default: 8080)
        dataDirectory = reader.string(forKey: "data.dir", default: "./data/orchestrator")
        sagasDirectory = reader.string(forKey: "sagas.dir", default: "compose/sagas")
        var urls: [String: String] = [:]
        for (name, port) in Self.defaultServices {
            urls[name] = reader.string(forKey: ConfigKey("services.\(name).url"), default: "http://127.0.0.1:\(port)")
        }
        serviceURLs = urls
        secrets = SigningSecrets(reader.string(forKey: "sagaflow.secret"))
        apiToken = reader.string(forKey: "api.token").flatMap { $0.isEmpty ? nil : $0 }
        crashPoints = try CrashPoints(parsing: reader.string(forKey: "sagaflow.crash.at"))
        publicURL = reader.string(forKey: "orchestrator.url").flatMap { $0.isEmpty ? nil : $0 }
    }

    /// The base URL of `service`: `services.<name>.url`, or `SAGAFLOW_SERVICE_<NAME>` for services beyond the demo.
    /// The environment is read only for a service without a configured URL: it is a copy of the whole environment each time.
    public func url(of service: String, environment: @autoclosure () -> [String: String] = ProcessInfo.processInfo.environment) -> String? {
        serviceURLs[service] ?? environment()["SAGAFLOW_SERVICE_\(service.uppercased().replacingOccurrences(of: "-", with: "_"))"]
    }

    /// The `--help` text.
    public static let help = """
        USAGE: orchestrator [options]

        The Sagaflow orchestrator. Settings: command line > environment > defaults.

        OPTIONS:
          --http-host HOST             HTTP_HOST              address to listen on (default 127.0.0.1)
          --http-port PORT             HTTP_PORT              port, 0 = any free port (default 8080)
          --data-dir DIR               DATA_DIR               event store and views (default ./data/orchestrator)
          --sagas-dir DIR              SAGAS_DIR              saga definitions (default compose/sagas)
          --services-NAME-url URL      SERVICES_NAME_URL      participant base URL (orders 8081, payments 8082, booking 8083)
          --orchestrator-url URL       ORCHESTRATOR_URL       how participants reach us, for replyTo (default http://HOST:PORT)
          --sagaflow-secret S1,S2      SAGAFLOW_SECRET        HMAC secrets for inter-service calls (default: open)
          --api-token TOKEN            API_TOKEN              bearer token for the public API (default: open)
          --sagaflow-crash-at POINTS   SAGAFLOW_CRASH_AT      crash points for tests, e.g. after-dispatch:0.1
          --help                                              show this help
        """
}

extension OrchestratorSettings {
    /// The standard reader: command line, then environment, then defaults.
    public static func reader(
        arguments: [String] = CommandLine.arguments, environment: [String: String] = ProcessInfo.processInfo.environment
    ) -> ConfigReader {
        ConfigReader(providers: [
            CommandLineArgumentsProvider(arguments: arguments, secretsSpecifier: .specific(["--sagaflow-secret", "--api-token"])),
            EnvironmentVariablesProvider(environmentVariables: environment, secretsSpecifier: .specific(["SAGAFLOW_SECRET", "API_TOKEN"])),
        ])
    }
}
