/// Why a compose file was refused: a stable `code`, the file, and the service and key at fault.
public struct ComposeError: Error, Sendable, Hashable, CustomStringConvertible {
    /// Stable code of the failure, for tests and scripts.
    public struct Code: RawRepresentable, Sendable, Hashable, CustomStringConvertible {
        /// The code as written in `--json` output.
        public var rawValue: String
        public init(rawValue: String) { self.rawValue = rawValue }
        public var description: String { rawValue }

        /// The file could not be read.
        public static let unreadableFile = Code(rawValue: "unreadable_file")
        /// The file is not YAML, or its top level is not a mapping.
        public static let malformedYAML = Code(rawValue: "malformed_yaml")
        /// A key the format does not have, at any level (often a typo).
        public static let unknownKey = Code(rawValue: "unknown_key")
        /// A required key is absent (`services`, a service's `command`, a healthcheck's `url`).
        public static let missingKey = Code(rawValue: "missing_key")
        /// A value of the wrong type or shape.
        public static let invalidValue = Code(rawValue: "invalid_value")
        /// A duration not written like `100ms`, `2s`, `1m`, or not positive.
        public static let invalidDuration = Code(rawValue: "invalid_duration")
        /// A port that is not a whole number from 1 to 65535, or more than one port.
        public static let invalidPort = Code(rawValue: "invalid_port")
        /// A `restart` policy other than `on-failure` or `no`.
        public static let invalidRestart = Code(rawValue: "invalid_restart")
        /// `depends_on` names a service the file does not define.
        public static let unknownDependency = Code(rawValue: "unknown_dependency")
        /// Services that depend on each other in a circle.
        public static let dependencyCycle = Code(rawValue: "dependency_cycle")
        /// A `${…}` the launcher cannot fill, or one left open.
        public static let invalidInterpolation = Code(rawValue: "invalid_interpolation")
    }

    /// What kind of failure.
    public var code: Code
    /// The file at fault, as given.
    public var file: String
    /// The service at fault, when the problem is inside one.
    public var service: String?
    /// The key at fault, dotted from the service (`healthcheck.interval`, `depends_on.orders.condition`).
    public var key: String?
    /// What is wrong, for a person.
    public var message: String

    /// An error with every detail given.
    public init(_ code: Code, file: String, service: String? = nil, key: String? = nil, message: String) {
        self.code = code
        self.file = file
        self.service = service
        self.key = key
        self.message = message
    }

    /// `file: service 'x': key 'y': message`.
    public var description: String {
        var parts = [file]
        if let service { parts.append("service '\(service)'") }
        if let key { parts.append("key '\(key)'") }
        parts.append(message)
        return parts.joined(separator: ": ")
    }
}
