import EventStore
import Foundation
public import Logging
import SagaEngine
public import SagaHTTP
import SagaProtocol
import ServiceLifecycle
import Synchronization
import UnixSignals

/// A running orchestrator: event store, executor, saga view projection and HTTP API.
public final class Orchestrator: Sendable {
    public let server: HTTPServer
    let executor: SagaExecutor
    let projection: SagaViewProjection
    let bus: SubscriptionBus
    let store: SQLiteEventStore
    let client: HTTPClient
    let logger: Logger

    /// The bound HTTP port.
    public var port: Int { server.port }

    /// Opens the store, loads definitions and binds the API; `run()` serves and resumes unfinished sagas.
    public static func start(settings: OrchestratorSettings, logger: Logger) async throws -> Orchestrator {
        let definitions = try DefinitionRegistry.load(directory: URL(fileURLWithPath: settings.sagasDirectory))
        let store = try SQLiteEventStore(path: "\(settings.dataDirectory)/events.sqlite", logger: logger)
        let appendedEvents = AppendedEvents()
        let projection = try SagaViewProjection(
            directory: settings.dataDirectory, store: store, appendedEvents: appendedEvents, logger: logger)
        let client = HTTPClient(
            configuration: HTTPClientConfiguration(signer: settings.secrets.map(RequestSigner.init)), logger: logger)
        let replyAddress = Mutex(settings.publicURL.map { "\($0)/replies" })
        let executor = SagaExecutor(
            SagaExecutor.Dependencies(
                store: store, client: client, serviceURL: { settings.url(of: $0) }, replyTo: { replyAddress.withLock { $0 ?? "" } },
                crashPoints: settings.crashPoints, appendedEvents: appendedEvents, logger: logger))
        let ids = TimeOrderedIdentifierGenerator()
        let bus = try SubscriptionBus(path: "\(settings.dataDirectory)/subscriptions.sqlite", store: store, client: client, logger: logger)
        let router = routes(
            executor: executor, projection: projection,
            inbox: try DomainEventInbox(path: "\(settings.dataDirectory)/inbox.sqlite"), bus: bus, store: store, definitions: definitions,
            ids: ids, apiToken: settings.apiToken)
        let server = try await HTTPServer.bind(
            configuration: HTTPServerConfiguration(
                host: settings.host, port: settings.port, verifier: settings.secrets.map { SignatureVerifier($0) }),
            router: router, logger: logger)
        replyAddress.withLock { address in
            if address == nil { address = "http://\(settings.host == "0.0.0.0" ? "127.0.0.1" : settings.host):\(server.port)/replies" }
        }
        if settings.secrets == nil { logger.warning("no SAGAFLOW_SECRET set: inter-service calls are NOT signed or verified") }
        logger.info(
            "orchestrator ready",
            metadata: [
                "http.port": "\(server.port)", "data.dir": "\(settings.dataDirectory)",
                "definitions": "\(definitions.latest.map(\.name).joined(separator: ","))",
            ])
        return Orchestrator(
            server: server, executor: executor, projection: projection, bus: bus, store: store, client: client, logger: logger)
    }

    init(
        server: HTTPServer, executor: SagaExecutor, projection: SagaViewProjection, bus: SubscriptionBus, store: SQLiteEventStore,
        client: HTTPClient, logger: Logger
    ) {
        self.server = server
        self.executor = executor
        self.projection = projection
        self.bus = bus
        self.store = store
        self.client = client
        self.logger = logger
    }

    /// Serves until SIGTERM/SIGINT (when `handleSignals`) or cancellation.
    public func run(handleSignals: Bool = true) async throws {
        let group = ServiceGroup(
            configuration: ServiceGroupConfiguration(
                services: [.init(service: executor), .init(service: projection), .init(service: bus), .init(service: server)],
                gracefulShutdownSignals: handleSignals ? [.sigterm, .sigint] : [], logger: logger))
        try await group.run()
        client.shutdown()
        try await store.close()
    }
}
