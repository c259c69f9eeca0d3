public import GRDB
public import Logging
public import SagaHTTP
import SagaProtocol
import ServiceLifecycle
import UnixSignals

/// What a participant service supplies: its tables, demo data, command handlers and query routes.
public struct ParticipantDefinition: Sendable {
    public var name: String
    public var defaultPort: Int
    /// The service's own migrations, after ServiceKit's inbox/outbox tables.
    public var migrations: @Sendable (inout DatabaseMigrator) -> Void
    /// Seeds demo data on start; must not overwrite existing rows (restarts keep state).
    public var seed: @Sendable (Database, ParticipantSettings) throws -> Void
    public var handlers: CommandHandlers
    /// Adds the service's query routes.
    public var routes: @Sendable (inout Router, DatabasePool) -> Void
    /// Extra `--help` rows for the service's own settings.
    public var helpRows: [(flag: String, variable: String, what: String)]

    public init(
        name: String, defaultPort: Int, migrations: @escaping @Sendable (inout DatabaseMigrator) -> Void,
        seed: @escaping @Sendable (Database, ParticipantSettings) throws -> Void = { _, _ in },
        handlers: CommandHandlers, routes: @escaping @Sendable (inout Router, DatabasePool) -> Void = { _, _ in },
        helpRows: [(flag: String, variable: String, what: String)] = []
    ) {
        self.name = name
        self.defaultPort = defaultPort
        self.migrations = migrations
        self.seed = seed
        self.handlers = handlers
        self.routes = routes
        self.helpRows = helpRows
    }
}

/// A running participant: its database, HTTP server and outbox relay.
public final class Participant: Sendable {
    public let settings: ParticipantSettings
    public let database: DatabasePool
    public let server: HTTPServer
    public let relay: OutboxRelay
    let client: HTTPClient
    let faults: FaultInjector
    let logger: Logger

    /// The bound HTTP port.
    public var port: Int { server.port }

    /// Opens the database, seeds it, and binds the HTTP server; call `run()` to serve.
    public static func start(
        _ definition: ParticipantDefinition, settings: ParticipantSettings, logger: Logger
    ) async throws -> Participant {
        let database = try ParticipantDatabase.open(
            directory: settings.dataDirectory, name: definition.name, migrations: definition.migrations)
        try await database.write { db in try definition.seed(db, settings) }
        let client = HTTPClient(
            configuration: HTTPClientConfiguration(signer: settings.secrets.map(RequestSigner.init)), logger: logger)
        let relay = OutboxRelay(database: database, client: client, logger: logger)
        let faults = FaultInjector(plan: settings.faults)
        let processor = CommandProcessor(
            writer: GroupCommitWriter(database: database), handlers: definition.handlers, faults: faults, relay: relay,
            asyncReplies: settings.asyncReplies, eventsURL: settings.orchestratorURL.map { "\($0)/events" }, logger: logger)
        var router = Router()
        Self.addProtocolRoutes(to: &router, processor: processor, database: database, name: definition.name)
        if settings.adminEnabled { Self.addAdminRoutes(to: &router, faults: faults, logger: logger) }
        definition.routes(&router, database)
        let server = try await HTTPServer.bind(
            configuration: HTTPServerConfiguration(
                host: settings.host, port: settings.port, verifier: settings.secrets.map { SignatureVerifier($0) }),
            router: router, logger: logger)
        if settings.secrets == nil {
            logger.warning("no SAGAFLOW_SECRET set: inter-service calls are NOT signed or verified")
        }
        if let plan = settings.faults, !plan.rules.isEmpty {
            logger.warning("fault injection active from start", metadata: ["fault.rules": "\(plan.rules.count)"])
        }
        logger.info(
            "participant ready",
            metadata: [
                "service": "\(definition.name)", "http.port": "\(server.port)", "data.dir": "\(settings.dataDirectory)",
                "reply.mode": "\(settings.asyncReplies ? "async" : "sync")",
            ])
        return Participant(
            settings: settings, database: database, server: server, relay: relay, client: client, faults: faults,
            logger: logger)
    }

    init(
        settings: ParticipantSettings, database: DatabasePool, server: HTTPServer, relay: OutboxRelay, client: HTTPClient,
        faults: FaultInjector, logger: Logger
    ) {
        self.settings = settings
        self.database = database
        self.server = server
        self.relay = relay
        self.client = client
        self.faults = faults
        self.logger = logger
    }

    /// Serves until SIGTERM/SIGINT (when `handleSignals`) or cancellation, then stops the server and the relay.
    public func run(handleSignals: Bool = true) async throws {
        let group = ServiceGroup(
            configuration: ServiceGroupConfiguration(
                services: [.init(service: relay), .init(service: server)],
                gracefulShutdownSignals: handleSignals ? [.sigterm, .sigint] : [], logger: logger))
        try await group.run()
        client.shutdown()
    }

    static func addProtocolRoutes(to router: inout Router, processor: CommandProcessor, database: DatabasePool, name: String) {
        router.post("/commands", signed: true) { request in
            let command = try request.decode(CommandEnvelope.self)
            switch try await processor.process(command) {
            case .reply(let reply): return HTTPResponse(status: 200, headers: [("Content-Type", "application/json")], body: Array(reply))
            case .accepted: return try .json(["status": "accepted", "commandId": command.id], status: 202)
            case .drop: return .dropConnection
            }
        }
        router.get("/health") { _ in
            try .json(["status": "ok", "service": name, "commands": processor.handlers.commandTypes.joined(separator: ",")])
        }
        router.get("/outbox") { _ in
            try .json(try await database.read { db in try Outbox.status(db) })
        }
    }

    static func addAdminRoutes(to router: inout Router, faults: FaultInjector, logger: Logger) {
        router.get("/admin/faults") { _ in try .json(faults.plan) }
        router.put("/admin/faults", signed: true) { request in
            let plan = try request.decode(FaultPlan.self)
            try faults.replace(with: plan)
            logger.warning("fault plan replaced", metadata: ["fault.rules": "\(plan.rules.count)"])
            return try .json(plan)
        }
        router.delete("/admin/faults", signed: true) { _ in
            try faults.replace(with: FaultPlan(rules: []))
            logger.info("fault plan cleared")
            return HTTPResponse(status: 204)
        }
    }
}
