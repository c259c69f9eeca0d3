import Foundation
import Logging
import SagaHTTP
import SagaProtocol
import ServiceLifecycle
import Synchronization
import Testing
import TestSupport

@Suite("HTTPServer")
struct HTTPServerTests {
    // MARK: - Routing and bodies

    @Test func routesPathParameters() async throws {
        try await withServer { server, _ in
            let connection = try await RawHTTPConnection.connect(port: server.port)
            let response = try await connection.exchange("GET", "/orders/abc-123")
            #expect(response.status == 200)
            #expect(response.header("Content-Type") == "application/json")
            #expect(try response.decode([String: String].self) == ["id": "abc-123"])
        }
    }

    @Test func echoesJSON() async throws {
        try await withServer { server, handled in
            let connection = try await RawHTTPConnection.connect(port: server.port)
            let sent = Echo(name: "größe ✓", count: 3)
            let response = try await connection.exchange("POST", "/echo", body: Array(try JSONCoding.encode(sent)))
            #expect(response.status == 200)
            #expect(response.header("Content-Length") == String(response.body.count))
            #expect(try response.decode(Echo.self) == sent)
            #expect(handled.count == 1)
        }
    }

    @Test func readsChunkedBodies() async throws {
        try await withServer { server, _ in
            let connection = try await RawHTTPConnection.connect(port: server.port)
            try await connection.send(
                "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                    + "c\r\n{\"name\":\"a\",\r\n" + "a\r\n\"count\":7}\r\n" + "0\r\n\r\n")
            let response = try await connection.readResponse()
            #expect(response.status == 200)
            #expect(try response.decode(Echo.self) == Echo(name: "a", count: 7))
        }
    }

    @Test func keepsConnectionsAliveUntilTheClientAsksToClose() async throws {
        try await withServer { server, _ in
            let connection = try await RawHTTPConnection.connect(port: server.port)
            for id in 1...3 {
                let response = try await connection.exchange("GET", "/orders/\(id)")
                #expect(try response.decode([String: String].self) == ["id": "\(id)"])
            }
            #expect(server.connectionsAccepted == 1)
            let last = try await connection.exchange("GET", "/orders/4", headers: [("Connection", "close")])
            #expect(last.status == 200)
            #expect(last.header("Connection") == "close")
            #expect(try await connection.readUntilClosed().isEmpty)
        }
    }

    @Test func answersPipelinedRequestsInOrder() async throws {
        try await withServer { server, _ in
            let connection = try await RawHTTPConnection.connect(port: server.port)
            let slow = RawHTTPConnection.request("GET", "/slow")
            try await connection.send(slow + RawHTTPConnection.request("GET", "/orders/2"))
            #expect(try await connection.readResponse().text == "slow")
            #expect(try await connection.readResponse().decode([String: String].self) == ["id": "2"])
        }
    }

    // MARK: - Limits

    @Test func refusesADeclaredBodyOverTheCapWithoutReadingIt() async throws {
        try await withServer { server, handled in
            let connection = try await RawHTTPConnection.connect(port: server.port)
            try await connection.send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: \(2 << 20)\r\n\r\n")
            let response = try await connection.readResponse()
            expectProblem(response, status: 413, code: "payload_too_large")
            #expect(try await connection.readUntilClosed().isEmpty)
            #expect(handled.count == 0)
            try await expectServesNormally(server)
        }
    }

    @Test func refusesAChunkedBodyGrowingPastTheCap() async throws {
        try await withServer { server, handled in
            let connection = try await RawHTTPConnection.connect(port: server.port)
            let chunk = [UInt8](repeating: UInt8(ascii: "a"), count: 64 << 10)
            var upload = Array("POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n".utf8)
            for _ in 0..<17 { upload += Array("10000\r\n".utf8) + chunk + Array("\r\n".utf8) }
            upload += Array("0\r\n\r\n".utf8)
            try await connection.send(upload)
            expectProblem(try await connection.readResponse(), status: 413, code: "payload_too_large")
            _ = try await connection.readUntilClosed()
            #expect(handled.count == 0)
            try await expectServesNormally(server)
        }
    }

    /// 20 KiB is over our 16 KiB cap but under NIO's default 80 KiB; 400 KiB is over both.
    @Test(arguments: [(HeaderOverflow.headerField, 20), (.headerField, 400), (.requestTarget, 20)])
    func refusesOversizedHeaders(_ overflow: HeaderOverflow, kibibytes: Int) async throws {
        try await withServer { server, handled in
            let connection = try await RawHTTPConnection.connect(port: server.port)
            let filler = String(repeating: "a", count: kibibytes << 10)
            let request = switch overflow {
            case .headerField: "GET /orders/1 HTTP/1.1\r\nHost: x\r\nX-Filler: \(filler)\r\n\r\n"
            case .requestTarget: "GET /orders/\(filler) HTTP/1.1\r\nHost: x\r\n\r\n"
            }
            // The server may refuse and stop reading before the whole request is sent; the answer is what counts.
            try? await connection.send(request)
            expectProblem(try await connection.readResponse(), status: 431, code: "headers_too_large")
            _ = try await connection.readUntilClosed()
            #expect(handled.count == 0)
            try await expectServesNormally(server)
        }
    }

    @Test func answersMalformedHTTPWithBadRequestAndCloses() async throws {
        try await withServer { server, _ in
            let connection = try await RawHTTPConnection.connect(port: server.port)
            try await connection.send("THIS IS NOT HTTP\r\n\r\n")
            expectProblem(try await connection.readResponse(), status: 400, code: "bad_request")
            #expect(try await connection.readUntilClosed().isEmpty)
            try await expectServesNormally(server)
        }
    }

    // MARK: - Errors as problems

    /// `/echo` throws the `Problem` from `HTTPRequest.decode`; `/echo-raw` lets a `DecodingProblem` escape.
    @Test(arguments: ["/echo", "/echo-raw"])
    func answersMalformedJSONWithInvalidJSON(_ route: String) async throws {
        try await withServer { server, _ in
            let connection = try await RawHTTPConnection.connect(port: server.port)
            let response = try await connection.exchange("POST", route, body: Array("{\"name\": ".utf8))
            expectProblem(response, status: 400, code: "invalid_json")
            try await expectServesNormally(server)
        }
    }

    @Test(arguments: ["/echo", "/echo-raw"])
    func namesAMissingField(_ route: String) async throws {
        try await withServer { server, _ in
            let connection = try await RawHTTPConnection.connect(port: server.port)
            let response = try await connection.exchange("POST", route, body: Array("{\"name\":\"a\"}".utf8))
            expectProblem(response, status: 400, code: "invalid_field")
            #expect(response.problem?.field == "count")
            try await expectServesNormally(server)
        }
    }

    @Test func answersAnUnknownRouteWithNotFound() async throws {
        try await withServer { server, _ in
            let connection = try await RawHTTPConnection.connect(port: server.port)
            expectProblem(try await connection.exchange("GET", "/nowhere/at/all"), status: 404, code: "not_found")
            try await expectServesNormally(server)
        }
    }

    @Test func answersAWrongMethodWithTheAllowedOnes() async throws {
        try await withServer { server, handled in
            let connection = try await RawHTTPConnection.connect(port: server.port)
            let response = try await connection.exchange("DELETE", "/echo")
            expectProblem(response, status: 405, code: "method_not_allowed")
            #expect(response.header("Allow") == "POST")
            #expect(handled.count == 0)
            try await expectServesNormally(server)
        }
    }

    @Test func hidesAndLogsUnexpectedErrors() async throws {
        let log = LogRecorder()
        try await withServer(logger: Logger(label: "test") { _ in RecordingLogHandler(recorder: log) }) { server, _ in
            let connection = try await RawHTTPConnection.connect(port: server.port)
            let response = try await connection.exchange("GET", "/fail")
            expectProblem(response, status: 500, code: "internal_error")
            #expect(!response.text.contains("hunter2"))
            let entry = log.entries.first { $0.message == "request handler failed" }
            #expect(entry?.level == .error)
            #expect(entry?.metadata["http.target"] == "/fail")
            #expect(entry?.metadata["error"]?.description.contains("hunter2") == true)
            try await expectServesNormally(server)
        }
    }

    @Test func logsWhereItListens() async throws {
        let log = LogRecorder()
        try await withServer(logger: Logger(label: "test") { _ in RecordingLogHandler(recorder: log) }) { server, _ in
            let entry = log.entries.first { $0.message == "http server listening" }
            #expect(entry?.metadata["port"] == "\(server.port)")
            #expect(entry?.metadata["host"] == "127.0.0.1")
        }
    }

    // MARK: - Signatures

    @Test func signedRouteRunsOnlyForAValidFreshSignature() async throws {
        let secrets = try #require(SigningSecrets("s3cret"))
        let signer = RequestSigner(secrets)
        try await withServer(HTTPServerConfiguration(verifier: SignatureVerifier(secrets))) { server, handled in
            let connection = try await RawHTTPConnection.connect(port: server.port)
            let body = Array("{\"amount\":5}".utf8)
            let valid = signer.signature(method: "POST", path: "/signed", body: body)
            let accepted = try await connection.exchange("POST", "/signed", headers: [(signatureHeaderName, valid)], body: body)
            #expect(accepted.status == 204)

            let refused: [(String, [(String, String)], [UInt8])] = [
                ("missing", [], body),
                ("changed body", [(signatureHeaderName, signer.signature(method: "POST", path: "/signed", body: body))],
                    Array("{\"amount\":500}".utf8)),
                ("wrong secret", [(signatureHeaderName, RequestSigner(try #require(SigningSecrets("other")))
                    .signature(method: "POST", path: "/signed", body: body))], body),
                ("ten minutes old", [(signatureHeaderName, signer.signature(
                    method: "POST", path: "/signed", body: body, now: Date(timeIntervalSinceNow: -600)))], body),
                ("replayed", [(signatureHeaderName, valid)], body),
            ]
            for (name, headers, body) in refused {
                let response = try await connection.exchange("POST", "/signed", headers: headers, body: body)
                expectProblem(response, status: 401, code: name == "replayed" ? "signature_replayed" : "unauthorized", name)
                #expect(response.problem?.detail?.isEmpty == false, "\(name)")
            }
            #expect(handled.count == 1)
        }
    }

    @Test func signedRouteIsOpenWithoutAVerifier() async throws {
        try await withServer { server, handled in
            let connection = try await RawHTTPConnection.connect(port: server.port)
            #expect(try await connection.exchange("POST", "/signed", body: Array("{}".utf8)).status == 204)
            #expect(handled.count == 1)
        }
    }

    // MARK: - Slow, idle and dropped connections

    @Test(arguments: [
        "", "GET /orders/1 HTTP/1.1\r\nHost", "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"na",
    ])
    func closesClientsThatDoNotSendARequestInTime(_ prefix: String) async throws {
        // Long enough that a loaded CI machine (the whole suite runs at once) still serves the normal request after.
        let idleTimeout = Duration.seconds(1)
        try await withServer(HTTPServerConfiguration(idleTimeout: idleTimeout)) { server, handled in
            let start = ContinuousClock.now
            let connection = try await RawHTTPConnection.connect(port: server.port)
            try await connection.send(prefix)
            #expect(try await connection.readUntilClosed(within: .seconds(5)).isEmpty)
            #expect(ContinuousClock.now - start >= idleTimeout)
            #expect(handled.count == 0)
            try await expectServesNormally(server)
        }
    }

    /// A byte every 20 ms (over 8 s in all) into the head, or into a body after a complete head.
    @Test(arguments: [
        ("", "GET /orders/1 HTTP/1.1\r\nHost: x\r\nX-Slow: " + String(repeating: "a", count: 400)),
        ("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 500\r\n\r\n", String(repeating: " ", count: 400)),
    ])
    func trickledBytesDoNotKeepASlowClientAlive(_ prefix: String, _ trickle: String) async throws {
        try await withServer(HTTPServerConfiguration(idleTimeout: .milliseconds(300))) { server, handled in
            let connection = try await RawHTTPConnection.connect(port: server.port)
            let start = ContinuousClock.now
            try await connection.send(prefix)
            for byte in trickle.utf8 {
                // A send after the server hung up fails; that only means the test can stop trickling.
                guard (try? await connection.send([byte])) != nil else { break }
                try await Task.sleep(for: .milliseconds(20))
            }
            #expect(try await connection.readUntilClosed(within: .seconds(5)).isEmpty)
            // Cut off near the 300 ms timeout; the bound leaves room for a loaded machine, far below the 8 s of trickling.
            #expect(ContinuousClock.now - start < .seconds(4), "trickling takes over 8 s")
            #expect(handled.count == 0)
        }
    }

    @Test func closesAKeepAliveConnectionLeftIdle() async throws {
        try await withServer(HTTPServerConfiguration(idleTimeout: .seconds(1))) { server, _ in
            let connection = try await RawHTTPConnection.connect(port: server.port)
            #expect(try await connection.exchange("GET", "/orders/1").status == 200)
            #expect(try await connection.readUntilClosed(within: .seconds(5)).isEmpty)
        }
    }

    @Test func dropsTheConnectionWithoutAnswering() async throws {
        try await withServer { server, _ in
            let connection = try await RawHTTPConnection.connect(port: server.port)
            try await connection.send(RawHTTPConnection.request("GET", "/drop"))
            #expect(try await connection.readUntilClosed().isEmpty)
            try await expectServesNormally(server)
        }
    }
}

@Suite("HTTPServer lifecycle")
struct HTTPServerLifecycleTests {
    @Test func shutdownLetsTheInFlightRequestFinishThenRefusesConnections() async throws {
        let (started, handlerStarted) = AsyncStream.makeStream(of: Void.self)
        var router = Router()
        router.get("/slow") { _ in
            handlerStarted.yield()
            try await Task.sleep(for: .milliseconds(200))
            return HTTPResponse(status: 200, body: Array("done".utf8))
        }
        let server = try await HTTPServer.bind(configuration: .init(), router: router, logger: quietLogger)
        let port = server.port
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await server.run() }
            let busy = try await RawHTTPConnection.connect(port: port)
            let idle = try await RawHTTPConnection.connect(port: port)
            try await busy.send(RawHTTPConnection.request("GET", "/slow"))
            for await _ in started { break }

            let stopping = ContinuousClock.now
            try await server.shutdown()
            #expect(ContinuousClock.now - stopping < .seconds(5))
            let response = try await busy.readResponse()
            #expect(response.text == "done")
            #expect(response.header("Connection") == "close")
            #expect(try await idle.readUntilClosed().isEmpty)
            try await group.waitForAll()
        }
        await #expect(throws: RawHTTPConnection.Failure.self) { try await RawHTTPConnection.connect(port: port) }
        try await server.shutdown()
    }

    @Test func cancellingRunStopsTheServer() async throws {
        let server = try await HTTPServer.bind(configuration: .init(), router: testRouter(handled: Counter()), logger: quietLogger)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await server.run() }
            try await expectServesNormally(server)
            group.cancelAll()
            try await group.waitForAll()
        }
        await #expect(throws: RawHTTPConnection.Failure.self) { try await RawHTTPConnection.connect(port: server.port) }
    }

    @Test func gracefulShutdownOfItsServiceGroupStopsTheServer() async throws {
        let server = try await HTTPServer.bind(configuration: .init(), router: testRouter(handled: Counter()), logger: quietLogger)
        let services = ServiceGroup(configuration: .init(services: [server], logger: quietLogger))
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await services.run() }
            try await expectServesNormally(server)
            await services.triggerGracefulShutdown()
            try await group.waitForAll()
        }
        await #expect(throws: RawHTTPConnection.Failure.self) { try await RawHTTPConnection.connect(port: server.port) }
    }

    @Test func shutdownBeforeRunClosesTheListenerAndRunReturns() async throws {
        let server = try await HTTPServer.bind(configuration: .init(), router: Router(), logger: quietLogger)
        try await server.shutdown()
        try await server.shutdown()
        await #expect(throws: RawHTTPConnection.Failure.self) { try await RawHTTPConnection.connect(port: server.port) }
        try await server.run()
    }
}

@Suite("HTTPServer with the libcurl client")
struct HTTPServerClientTests {
    @Test func echoesJSONOverOneKeptAliveConnection() async throws {
        try await withServer { server, handled in
            let client = HTTPClient(logger: quietLogger)
            defer { client.shutdown() }
            let base = "http://127.0.0.1:\(server.port)"
            for count in 1...3 {
                let response = try await client.post("\(base)/echo", json: Echo(name: "n", count: count))
                #expect(response.status == 200)
                #expect(try response.decode(Echo.self) == Echo(name: "n", count: count))
            }
            #expect(try await client.get("\(base)/orders/7").decode([String: String].self) == ["id": "7"])
            #expect(handled.count == 3)
            #expect(server.connectionsAccepted == 1)
        }
    }

    @Test func aClientUploadingTooMuchReadsTheRefusal() async throws {
        try await withServer { server, handled in
            let client = HTTPClient(logger: quietLogger)
            defer { client.shutdown() }
            let response = try await client.post(
                "http://127.0.0.1:\(server.port)/echo", json: Echo(name: String(repeating: "x", count: 2 << 20), count: 1))
            #expect(response.status == 413)
            #expect(try response.decode(Problem.self).code == "payload_too_large")
            #expect(handled.count == 0)
        }
    }
}

// MARK: - Fixtures

/// What makes a request's header section too large.
enum HeaderOverflow: CaseIterable, Sendable {
    case headerField, requestTarget
}

/// A JSON body with two required fields.
struct Echo: Codable, Equatable, Sendable {
    var name: String
    var count: Int
}

/// Counts handler runs across tasks.
final class Counter: Sendable {
    private let value = Mutex(0)
    func increment() { value.withLock { $0 += 1 } }
    var count: Int { value.withLock { $0 } }
}

/// The error a handler throws that must not reach the client.
struct LeakyError: Error {
    var password = "hunter2"
}

/// Routes exercising the server; every handler but the trivial GETs counts its runs in `handled`.
func testRouter(handled: Counter) -> Router {
    var router = Router()
    router.get("/orders/{id}") { request in try .json(["id": request.parameter("id")]) }
    router.post("/echo") { request in
        handled.increment()
        return try .json(try request.decode(Echo.self))
    }
    router.post("/echo-raw") { request in
        handled.increment()
        return try .json(try JSONCoding.decode(Echo.self, from: request.body))
    }
    router.post("/signed", signed: true) { _ in
        handled.increment()
        return HTTPResponse(status: 204)
    }
    router.get("/slow") { _ in
        try await Task.sleep(for: .milliseconds(100))
        return HTTPResponse(status: 200, body: Array("slow".utf8))
    }
    router.get("/drop") { _ in .dropConnection }
    router.get("/fail") { _ in throw LeakyError() }
    return router
}

/// Binds a server on a free port, runs it while `body` uses it, then shuts it down and checks `run()` returned.
func withServer(
    _ configuration: HTTPServerConfiguration = HTTPServerConfiguration(),
    router: ((Counter) -> Router)? = nil,
    logger: Logger = quietLogger,
    _ body: (HTTPServer, Counter) async throws -> Void
) async throws {
    let handled = Counter()
    let router = router?(handled) ?? testRouter(handled: handled)
    let server = try await HTTPServer.bind(configuration: configuration, router: router, logger: logger)
    try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask { try await server.run() }
        do {
            try await body(server, handled)
        } catch {
            try await server.shutdown()
            throw error
        }
        try await server.shutdown()
        try await group.waitForAll()
    }
}

/// A logger that drops everything.
let quietLogger = Logger(label: "HTTPServerTests") { _ in SwiftLogNoOpLogHandler() }

/// A plain request on a new connection still succeeds.
func expectServesNormally(_ server: HTTPServer, sourceLocation: SourceLocation = #_sourceLocation) async throws {
    let connection = try await RawHTTPConnection.connect(port: server.port)
    let response = try await connection.exchange("GET", "/orders/ok")
    #expect(response.status == 200, sourceLocation: sourceLocation)
}

/// `response` is a problem+json with `status` and `code`.
func expectProblem(
    _ response: RawHTTPResponse, status: Int, code: String, _ comment: String = "",
    sourceLocation: SourceLocation = #_sourceLocation
) {
    #expect(response.status == status, "\(comment)", sourceLocation: sourceLocation)
    #expect(response.header("Content-Type") == Problem.contentType, "\(comment)", sourceLocation: sourceLocation)
    #expect(response.problem?.code == code, "\(comment)", sourceLocation: sourceLocation)
    #expect(response.problem?.status == status, "\(comment)", sourceLocation: sourceLocation)
}

/// Log entries captured by `RecordingLogHandler`.
final class LogRecorder: Sendable {
    struct Entry: Sendable {
        var level: Logger.Level
        var message: String
        var metadata: Logger.Metadata
    }

    private let storage = Mutex<[Entry]>([])
    var entries: [Entry] { storage.withLock { $0 } }
    func record(_ entry: Entry) { storage.withLock { $0.append(entry) } }
}

/// A log handler that keeps every entry, so tests can check what was logged and with which metadata.
struct RecordingLogHandler: LogHandler {
    let recorder: LogRecorder
    var metadata: Logger.Metadata = [:]
    var metadataProvider: Logger.MetadataProvider?
    var logLevel: Logger.Level = .trace

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        recorder.record(
            .init(
                level: event.level, message: event.message.description,
                metadata: metadata.merging(event.metadata ?? [:]) { $1 }))
    }
}
