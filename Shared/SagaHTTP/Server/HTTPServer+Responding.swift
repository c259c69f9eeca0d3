import Logging
import SagaProtocol

extension HTTPServer {
    /// Routes a whole request, checks its signature when the route requires one, and runs the handler;
    /// every failure becomes a problem response.
    func respond(to request: HTTPRequest, logger: Logger) async -> HTTPResponse {
        switch router.match(method: request.method, path: request.path) {
        case .notFound:
            return .problem(.notFound("no route for \(request.method) \(request.path)"))
        case .methodNotAllowed(let allowed):
            var methods: [String] = []
            for method in allowed where !methods.contains(method) { methods.append(method) }
            var response = HTTPResponse.problem(.methodNotAllowed(request.method, allowed: methods))
            response.headers.append((name: "Allow", value: methods.joined(separator: ", ")))
            return response
        case .found(let handler, let parameters, let requiresSignature):
            var request = request
            request.parameters = parameters
            if requiresSignature, let verifier = configuration.verifier {
                do {
                    try verifier.verify(
                        header: request.header(signatureHeaderName), method: request.method, path: request.target,
                        body: request.body)
                } catch {
                    logger.notice(
                        "request signature refused",
                        metadata: ["http.method": "\(request.method)", "http.target": "\(request.target)", "error": "\(error)"])
                    return .problem(.unauthorized(error))
                }
            }
            do {
                return try await handler(request)
            } catch {
                return .problem(problem(for: error, request: request, logger: logger))
            }
        }
    }

    /// The problem a handler's error stands for; anything unexpected is logged and answered 500 without details.
    private func problem(for error: any Error, request: HTTPRequest, logger: Logger) -> Problem {
        switch error {
        case let problem as Problem:
            return problem
        case let problem as DecodingProblem:
            return .badRequest(problem)
        case let refusal as SignatureError:
            return .unauthorized(refusal)
        default:
            logger.error(
                "request handler failed",
                metadata: [
                    "http.method": "\(request.method)", "http.target": "\(request.target)",
                    "error": "\(String(reflecting: error))",
                ])
            return .internalError
        }
    }
}

extension Problem {
    /// 405: the path exists, but not for this method.
    static func methodNotAllowed(_ method: String, allowed: [String]) -> Problem {
        Problem(
            status: 405, code: "method_not_allowed", title: "Method not allowed",
            detail: "\(method) is not allowed here; use \(allowed.joined(separator: ", "))")
    }

    /// 401: a signed route refused the request's signature. A replay has its own code: the server saw this
    /// very request before, so (unlike a forgery) the original may have been applied.
    static func unauthorized(_ refusal: SignatureError) -> Problem {
        Problem(
            status: 401, code: refusal == .replayed ? Problem.signatureReplayed : "unauthorized", title: "Unauthorized",
            detail: refusal.description)
    }

    /// 413: the body is (or was going to be) larger than the server accepts.
    static var payloadTooLarge: Problem {
        Problem(status: 413, code: "payload_too_large", title: "Payload too large")
    }

    /// 431: the request line and header fields are larger than the server accepts.
    static var headersTooLarge: Problem {
        Problem(status: 431, code: "headers_too_large", title: "Request header fields too large")
    }

    /// 400: bytes that are not an HTTP/1.1 request.
    static var malformedRequest: Problem {
        Problem(status: 400, code: "bad_request", title: "Malformed HTTP request")
    }

    /// 500: a handler failed in a way the client cannot act on; details are in the server log.
    static var internalError: Problem {
        Problem(status: 500, code: "internal_error", title: "Internal server error")
    }
}
