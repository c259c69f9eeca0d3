import Foundation
public import SagaProtocol

/// One request as a handler sees it: the whole body has been read (within the server's cap).
public struct HTTPRequest: Sendable {
    /// Upper-case method, `GET`, `POST`, …
    public var method: String
    /// The request target as sent, path and query (what a signature covers).
    public var target: String
    /// The path without the query, percent-decoded.
    public var path: String
    /// Query parameters; the last value wins when one is repeated.
    public var query: [String: String]
    /// Header fields in order, names as sent.
    public var headers: [(name: String, value: String)]
    public var body: [UInt8]
    /// Values of the route's `{param}` segments.
    public var parameters: [String: String]

    public init(
        method: String, target: String, headers: [(name: String, value: String)] = [], body: [UInt8] = [],
        parameters: [String: String] = [:]
    ) {
        self.method = method
        self.target = target
        let components = URLComponents(string: target)
        self.path = components?.percentEncodedPath.removingPercentEncoding ?? target
        var query: [String: String] = [:]
        for item in components?.queryItems ?? [] { query[item.name] = item.value ?? "" }
        self.query = query
        self.headers = headers
        self.body = body
        self.parameters = parameters
    }

    /// The first value of header `name`, compared case-insensitively.
    public func header(_ name: String) -> String? {
        headers.first { $0.name.caseInsensitiveCompare(name) == .orderedSame }?.value
    }

    /// The path parameter `name`; routes guarantee it exists.
    public func parameter(_ name: String) -> String {
        parameters[name] ?? ""
    }

    /// Decodes the JSON body, or throws a 400 problem naming the field at fault.
    public func decode<T: Decodable>(_ type: T.Type) throws(Problem) -> T {
        do {
            return try JSONCoding.decode(type, from: body)
        } catch {
            throw Problem.badRequest(error)
        }
    }
}

extension Problem {
    /// 400 for a body that could not be decoded: `invalid_json` when it is not JSON, `invalid_field` otherwise.
    public static func badRequest(_ problem: DecodingProblem) -> Problem {
        if let field = problem.field {
            return Problem(status: 400, code: "invalid_field", title: "Invalid request body", detail: problem.message, field: field)
        }
        return Problem(status: 400, code: "invalid_json", title: "Malformed JSON", detail: problem.message)
    }

    /// 404 for a resource that does not exist.
    public static func notFound(_ detail: String) -> Problem {
        Problem(status: 404, code: "not_found", title: "Not found", detail: detail)
    }
}
