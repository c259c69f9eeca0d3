import Logging
import NIOCore
import NIOHTTP1
import SagaProtocol

extension HTTPServer {
    typealias RequestParts = NIOAsyncChannelInboundStream<HTTPServerRequestPart>.AsyncIterator

    /// What reading the next request off a connection gave.
    private enum Incoming {
        /// A whole request, and whether the client wants the connection kept open after it.
        case request(HTTPRequest, version: HTTPVersion, keepAlive: Bool)
        /// A request refused before its body was read; the rest of it is still on the wire.
        case refused(Problem)
        /// The connection closed before another whole request arrived.
        case closed
    }

    /// Serves one connection: reads requests, answers them in order, closes when either side is done.
    func serve(_ connection: Connection) async {
        let channel = connection.channel
        let logger = connectionLogger(channel)
        do {
            try await connection.executeThenClose { inbound, _ in
                var parts = inbound.makeAsyncIterator()
                while true {
                    let incoming: Incoming
                    do {
                        incoming = try await readRequest(&parts)
                    } catch let error as HTTPParserError {
                        logger.debug("malformed request", metadata: ["error": "\(error)"])
                        let problem = error == .headerOverflow ? Problem.headersTooLarge : Problem.malformedRequest
                        try await write(.problem(problem), version: .http1_1, closing: true, on: channel)
                        try await lingerAfterRefusal(on: channel)
                        return
                    }
                    switch incoming {
                    case .closed:
                        return
                    case .refused(let problem):
                        try await write(.problem(problem), version: .http1_1, closing: true, on: channel)
                        try await discardRestOfRequest(&parts, on: channel)
                        return
                    case .request(let request, let version, let keepAlive):
                        let response = await respond(to: request, logger: logger)
                        if response.dropsConnection { return }
                        if let stream = response.stream {
                            try await writeStreaming(response, stream, version: version, on: channel)
                            return
                        }
                        let closing = !keepAlive || isStopping
                        try await write(response, version: version, closing: closing, on: channel)
                        if closing { return }
                    }
                }
            }
        } catch {
            logger.debug("connection ended with an error", metadata: ["error": "\(error)"])
        }
    }

    /// Reads the next request whole, refusing it as soon as it is known to break a limit. (The parser
    /// enforces `maxHeaderBytes` on the target and header fields itself: `HTTPParserError.headerOverflow`.)
    private func readRequest(_ parts: inout RequestParts) async throws -> Incoming {
        guard let first = try await parts.next() else { return .closed }
        guard case .head(let head) = first else { return .refused(.malformedRequest) }
        if let declared = head.headers.first(name: "content-length").flatMap(Int.init),
            declared > configuration.maxBodyBytes
        {
            return .refused(.payloadTooLarge)
        }
        var body: [UInt8] = []
        while let part = try await parts.next() {
            switch part {
            case .head:
                return .refused(.malformedRequest)
            case .body(let chunk):
                guard body.count + chunk.readableBytes <= configuration.maxBodyBytes else {
                    return .refused(.payloadTooLarge)
                }
                body.append(contentsOf: chunk.readableBytesView)
            case .end:
                let request = HTTPRequest(
                    method: head.method.rawValue, target: head.uri,
                    headers: head.headers.map { (name: $0.name, value: $0.value) }, body: body)
                return .request(request, version: head.version, keepAlive: head.isKeepAlive)
            }
        }
        return .closed
    }

    /// After refusing a request mid-upload: stops sending, lets the client finish (or give up on) its
    /// upload so it reads the refusal instead of a connection reset. Bounded by the idle timeout, which
    /// keeps running until a request has fully arrived.
    private func discardRestOfRequest(_ parts: inout RequestParts, on channel: any Channel) async throws {
        try await channel.close(mode: .output).get()
        while let part = try await parts.next() {
            if case .end = part { return }
        }
    }

    /// After refusing bytes the parser cannot follow: stops sending and waits for the client to hang up
    /// (or the idle timeout), so that it reads the refusal instead of a reset caused by unread input.
    private func lingerAfterRefusal(on channel: any Channel) async throws {
        try await channel.close(mode: .output).get()
        try await channel.closeFuture.get()
    }

    /// Writes a response with `Content-Length`, waiting until it has reached the socket.
    private func write(
        _ response: HTTPResponse, version: HTTPVersion, closing: Bool, on channel: any Channel
    ) async throws {
        var headers = HTTPHeaders(response.headers.map { ($0.name, $0.value) })
        headers.replaceOrAdd(name: "Content-Length", value: String(response.body.count))
        if closing {
            headers.replaceOrAdd(name: "Connection", value: "close")
        } else if version == .http1_0 {
            headers.replaceOrAdd(name: "Connection", value: "keep-alive")
        }
        let head = HTTPResponseHead(
            version: version, status: HTTPResponseStatus(statusCode: response.status), headers: headers)
        channel.write(HTTPServerResponsePart.head(head), promise: nil)
        if !response.body.isEmpty {
            channel.write(HTTPServerResponsePart.body(.byteBuffer(ByteBuffer(bytes: response.body))), promise: nil)
        }
        try await channel.writeAndFlush(HTTPServerResponsePart.end(nil)).get()
    }

    /// Writes the head, then whatever `stream` writes, each part flushed; the connection closes after.
    private func writeStreaming(
        _ response: HTTPResponse, _ stream: @Sendable (HTTPBodyWriter) async throws -> Void, version: HTTPVersion,
        on channel: any Channel
    ) async throws {
        var headers = HTTPHeaders(response.headers.map { ($0.name, $0.value) })
        headers.remove(name: "Content-Length")
        headers.replaceOrAdd(name: "Connection", value: "close")
        let head = HTTPResponseHead(version: version, status: HTTPResponseStatus(statusCode: response.status), headers: headers)
        try await channel.writeAndFlush(HTTPServerResponsePart.head(head)).get()
        let writer = HTTPBodyWriter(
            send: { bytes in
                guard !bytes.isEmpty else { return }
                try await channel.writeAndFlush(HTTPServerResponsePart.body(.byteBuffer(ByteBuffer(bytes: bytes)))).get()
            },
            stopping: { [weak self] in self?.isStopping ?? true })
        try await stream(writer)
        try await channel.writeAndFlush(HTTPServerResponsePart.end(nil)).get()
    }

    private func connectionLogger(_ channel: any Channel) -> Logger {
        var logger = self.logger
        if let remote = channel.remoteAddress {
            logger[metadataKey: "http.remote"] = "\(remote)"
        }
        return logger
    }
}
