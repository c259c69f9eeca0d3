public import SagaProtocol

/// How an `HTTPServer` listens and what it accepts.
public struct HTTPServerConfiguration: Sendable {
    /// The address to bind.
    public var host: String
    /// The port to bind; 0 picks any free port (read it back from `HTTPServer.port`).
    public var port: Int
    /// The largest request body accepted; a bigger one is answered 413 and the connection closed.
    public var maxBodyBytes: Int
    /// The largest request target plus header fields accepted; more is answered 431 and the connection closed.
    public var maxHeaderBytes: Int
    /// How long a connection may owe us a complete request (idle keep-alive, slow upload) before it is closed.
    public var idleTimeout: Duration
    /// How long a stopping server waits for in-flight requests before it closes their connections.
    public var shutdownGracePeriod: Duration
    /// Checks signatures on routes registered with `signed: true`; nil leaves those routes open.
    public var verifier: SignatureVerifier?

    /// A configuration; every value has a default suited to a service behind the saga orchestrator.
    public init(
        host: String = "127.0.0.1", port: Int = 0, maxBodyBytes: Int = 1 << 20, maxHeaderBytes: Int = 16 << 10,
        idleTimeout: Duration = .seconds(30), shutdownGracePeriod: Duration = .seconds(10),
        verifier: SignatureVerifier? = nil
    ) {
        self.host = host
        self.port = port
        self.maxBodyBytes = maxBodyBytes
        self.maxHeaderBytes = maxHeaderBytes
        self.idleTimeout = idleTimeout
        self.shutdownGracePeriod = shutdownGracePeriod
        self.verifier = verifier
    }
}
