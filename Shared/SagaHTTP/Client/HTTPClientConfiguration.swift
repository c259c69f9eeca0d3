public import SagaProtocol

/// Limits and identity for an `HTTPClient`.
public struct HTTPClientConfiguration: Sendable {
    /// Largest response body accepted; a larger one fails with `.responseTooLarge`.
    public var maxResponseBytes: Int = 4 << 20
    /// How long establishing a TCP connection may take; part of each request's overall timeout.
    public var connectTimeout: Duration = .seconds(2)
    /// Cap on simultaneous connections to one host, so a burst queues instead of opening thousands of sockets.
    public var maxConnectionsPerHost: Int = 64
    /// When set, every request (every attempt) carries a fresh `Sagaflow-Signature` header.
    public var signer: RequestSigner?

    /// A configuration; every limit has a default suitable for loopback inter-service calls.
    public init(
        maxResponseBytes: Int = 4 << 20, connectTimeout: Duration = .seconds(2), maxConnectionsPerHost: Int = 64,
        signer: RequestSigner? = nil
    ) {
        self.maxResponseBytes = maxResponseBytes
        self.connectTimeout = connectTimeout
        self.maxConnectionsPerHost = maxConnectionsPerHost
        self.signer = signer
    }
}
