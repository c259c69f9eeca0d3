
/// Handles one matched request.
public typealias HTTPHandler = @Sendable (HTTPRequest) async throws -> HTTPResponse

/// Maps method + path pattern (`/orders/{id}`) to handlers.
public struct Router: Sendable {
    struct Route: Sendable {
        var method: String
        var segments: [Substring]
        var requiresSignature: Bool
        var handler: HTTPHandler
    }

    /// What a lookup found.
    public enum Match: Sendable {
        case found(handler: HTTPHandler, parameters: [String: String], requiresSignature: Bool)
        case methodNotAllowed(allowed: [String])
        case notFound
    }

    var routes: [Route] = []

    public init() {}

    /// Adds a route. `signed` routes are inter-service calls: the server verifies their signature when it has secrets.
    public mutating func on(_ method: String, _ pattern: String, signed: Bool = false, _ handler: @escaping HTTPHandler) {
        routes.append(
            Route(method: method, segments: pattern.split(separator: "/"), requiresSignature: signed, handler: handler))
    }

    public mutating func get(_ pattern: String, signed: Bool = false, _ handler: @escaping HTTPHandler) {
        on("GET", pattern, signed: signed, handler)
    }

    public mutating func post(_ pattern: String, signed: Bool = false, _ handler: @escaping HTTPHandler) {
        on("POST", pattern, signed: signed, handler)
    }

    public mutating func put(_ pattern: String, signed: Bool = false, _ handler: @escaping HTTPHandler) {
        on("PUT", pattern, signed: signed, handler)
    }

    public mutating func delete(_ pattern: String, signed: Bool = false, _ handler: @escaping HTTPHandler) {
        on("DELETE", pattern, signed: signed, handler)
    }

    /// Finds the route for `method` and `path` (no query).
    public func match(method: String, path: String) -> Match {
        let parts = path.split(separator: "/")
        var allowed: [String] = []
        for route in routes where route.segments.count == parts.count {
            var parameters: [String: String] = [:]
            let matches = zip(route.segments, parts).allSatisfy { pattern, part in
                if pattern.first == "{", pattern.last == "}" {
                    parameters[String(pattern.dropFirst().dropLast())] = String(part)
                    return true
                }
                return pattern == part
            }
            guard matches else { continue }
            if route.method == method {
                return .found(handler: route.handler, parameters: parameters, requiresSignature: route.requiresSignature)
            }
            allowed.append(route.method)
        }
        return allowed.isEmpty ? .notFound : .methodNotAllowed(allowed: allowed)
    }
}
