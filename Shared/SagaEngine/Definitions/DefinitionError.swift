/// Why a saga definition file was refused: a stable `code`, the file, and the step and key at fault.
public struct DefinitionError: Error, Sendable, Hashable, CustomStringConvertible {
    /// Stable code of the failure, for tests and problem+json.
    public struct Code: RawRepresentable, Sendable, Hashable, CustomStringConvertible {
        /// The code as written in problem+json.
        public var rawValue: String
        public init(rawValue: String) { self.rawValue = rawValue }
        public var description: String { rawValue }

        /// The file could not be read.
        public static let unreadableFile = Code(rawValue: "unreadable_file")
        /// The file is not YAML (a key given twice included), or its top level is not a mapping.
        public static let malformedYAML = Code(rawValue: "malformed_yaml")
        /// A key the format does not have (often a typo).
        public static let unknownField = Code(rawValue: "unknown_field")
        /// A required key is absent.
        public static let missingField = Code(rawValue: "missing_field")
        /// A value of the wrong type or out of range.
        public static let invalidValue = Code(rawValue: "invalid_value")
        /// A duration not written like `50ms`, `2s`, `1m`, `1h`, or not positive.
        public static let invalidDuration = Code(rawValue: "invalid_duration")
        /// `steps` is empty.
        public static let noSteps = Code(rawValue: "no_steps")
        /// Two steps with the same name.
        public static let duplicateStep = Code(rawValue: "duplicate_step")
        /// More than one step has `pivot: true`.
        public static let multiplePivots = Code(rawValue: "multiple_pivots")
        /// A step before the pivot (or any step, when there is no pivot) without a compensation.
        public static let missingCompensation = Code(rawValue: "missing_compensation")
        /// A compensation on the pivot: after it the saga cannot roll back, so it could never run.
        public static let compensationOnPivot = Code(rawValue: "compensation_on_pivot")
        /// A compensation on a step after the pivot, where it could never run.
        public static let unusedCompensation = Code(rawValue: "unused_compensation")
        /// Two files define the same saga name.
        public static let duplicateSaga = Code(rawValue: "duplicate_saga")
    }

    /// What kind of failure.
    public var code: Code
    /// The file at fault (its path as given, or a label for in-memory text).
    public var file: String
    /// The step at fault, when the problem is inside one.
    public var step: String?
    /// The key at fault, when there is one (`retry.backoff`, `timeout`).
    public var key: String?
    /// What is wrong, for a person.
    public var message: String

    /// An error with every detail given.
    public init(_ code: Code, file: String, step: String? = nil, key: String? = nil, message: String) {
        self.code = code
        self.file = file
        self.step = step
        self.key = key
        self.message = message
    }

    /// `file: step 'x': key 'y': message`.
    public var description: String {
        var parts = [file]
        if let step { parts.append("step '\(step)'") }
        if let key { parts.append("key '\(key)'") }
        parts.append(message)
        return parts.joined(separator: ": ")
    }
}
