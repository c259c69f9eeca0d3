public import Foundation
import Crypto
import Synchronization

/// The name of the header that carries a request's signature.
public let signatureHeaderName = "Sagaflow-Signature"

/// Shared HMAC secrets for inter-service calls; the first signs, all verify (rotation).
public struct SigningSecrets: Sendable, Equatable {
    public var secrets: [String]

    /// Parses `SAGAFLOW_SECRET`: one or more secrets separated by commas; nil when none is set.
    public init?(_ commaSeparated: String?) {
        let secrets = (commaSeparated ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { !$0.isEmpty }
        guard !secrets.isEmpty else { return nil }
        self.secrets = secrets
    }
}

/// Signs outgoing requests: `t=<unix>,n=<nonce>,v1=<hex HMAC-SHA256(secret, t.n.METHOD path.body)>`.
public struct RequestSigner: Sendable {
    let secret: SymmetricKey

    public init(_ secrets: SigningSecrets) {
        self.secret = SymmetricKey(data: Data(secrets.secrets[0].utf8))
    }

    /// The signature header value for one request; each call uses a fresh nonce, so a retry is signed afresh.
    public func signature(method: String, path: String, body: some DataProtocol, now: Date = Date()) -> String {
        let timestamp = Int(now.timeIntervalSince1970)
        let nonce = (0..<16).map { _ in UInt8.random(in: 0...255) }.hex
        let mac = RequestSignature.mac(key: secret, timestamp: timestamp, nonce: nonce, method: method, path: path, body: body)
        return "t=\(timestamp),n=\(nonce),v1=\(mac.hex)"
    }
}

/// Why a signature was refused.
public struct SignatureError: Error, Sendable, Hashable, CustomStringConvertible {
    private enum Code: String { case missing, malformed, stale, forged, replayed }
    private let code: Code

    public static let missing = SignatureError(code: .missing)
    public static let malformed = SignatureError(code: .malformed)
    public static let stale = SignatureError(code: .stale)
    public static let forged = SignatureError(code: .forged)
    public static let replayed = SignatureError(code: .replayed)

    public var description: String {
        switch code {
        case .missing: "missing \(signatureHeaderName) header"
        case .malformed: "malformed \(signatureHeaderName) header"
        case .stale: "signature timestamp outside the allowed window"
        case .forged: "signature does not match"
        case .replayed: "signature nonce already used"
        }
    }
}

/// Verifies incoming signatures: any configured secret, a time window, and each nonce once within it.
public final class SignatureVerifier: Sendable {
    let keys: [SymmetricKey]
    let window: TimeInterval
    private let seenNonces = Mutex(SeenNonces())

    public init(_ secrets: SigningSecrets, window: TimeInterval = 300) {
        self.keys = secrets.secrets.map { SymmetricKey(data: Data($0.utf8)) }
        self.window = window
    }

    /// Checks one request; a nonce is remembered only once the MAC is valid, so forgeries cannot burn nonces.
    public func verify(
        header: String?, method: String, path: String, body: some DataProtocol, now: Date = Date()
    ) throws(SignatureError) {
        guard let header else { throw .missing }
        var fields: [Substring: Substring] = [:]
        for part in header.split(separator: ",") {
            guard let eq = part.firstIndex(of: "=") else { throw .malformed }
            fields[part[..<eq].trimmingCharacters(in: .whitespaces)[...]] = part[part.index(after: eq)...]
        }
        guard let t = fields["t"], let timestamp = Int(t), let nonce = fields["n"], let nonceBits = Nonce(hex: nonce),
            let given = fields["v1"].flatMap({ Data(hex: $0) })
        else { throw .malformed }
        let nowSeconds = Int(now.timeIntervalSince1970)
        guard abs(nowSeconds - timestamp) <= Int(window) else { throw .stale }
        let valid = keys.contains { key in
            var input = RequestSignature.signedBytes(timestamp: timestamp, nonce: String(nonce), method: method, path: path)
            input.append(contentsOf: body)
            return HMAC<SHA256>.isValidAuthenticationCode(given, authenticating: input, using: key)
        }
        guard valid else { throw .forged }
        let fresh = seenNonces.withLock { seen in
            seen.insert(nonceBits, signedAt: timestamp, now: nowSeconds, window: Int(window))
        }
        guard fresh else { throw .replayed }
    }

    /// How many nonces are remembered now, for tests.
    var rememberedNonces: Int { seenNonces.withLock { $0.count } }
}

/// A request's nonce: 128 random bits, sent as 32 hex digits.
struct Nonce {
    var high: UInt64
    var low: UInt64

    init?(hex: Substring) {
        guard hex.utf8.count == 32, let high = UInt64(hex.prefix(16), radix: 16), let low = UInt64(hex.suffix(16), radix: 16)
        else { return nil }
        (self.high, self.low) = (high, low)
    }

    /// 64 of its bits, which is what `SeenNonces` keeps: two different nonces signed in the same second share them
    /// with odds of 1 in 2^64 per pair, and the loser is refused as a replay, which its sender retries with a new one.
    var remembered: UInt64 { high ^ low }
}

/// The nonces seen within the window, by the second they were signed at.
///
/// A replay carries its original timestamp (it is signed), so it can only collide in its own second's set, and a
/// whole second is forgotten at once when it leaves the window. Memory is the request rate times the window at
/// 8 bytes a nonce (plus the sets' spare room), and no request pays for more than one second's cleanup.
struct SeenNonces {
    private var bySecond: [Int: Set<UInt64>] = [:]
    private var prunedAt = Int.min

    /// Records `nonce`; false when it was already seen.
    mutating func insert(_ nonce: Nonce, signedAt timestamp: Int, now: Int, window: Int) -> Bool {
        if now != prunedAt {
            prunedAt = now
            bySecond = bySecond.filter { abs(now - $0.key) <= window }
        }
        return bySecond[timestamp, default: []].insert(nonce.remembered).inserted
    }

    /// How many nonces are remembered, for tests.
    var count: Int { bySecond.values.reduce(0) { $0 + $1.count } }
}

enum RequestSignature {
    static func signedBytes(timestamp: Int, nonce: String, method: String, path: String) -> Data {
        Data("\(timestamp).\(nonce).\(method) \(path).".utf8)
    }

    static func mac(
        key: SymmetricKey, timestamp: Int, nonce: String, method: String, path: String, body: some DataProtocol
    ) -> Data {
        var input = signedBytes(timestamp: timestamp, nonce: nonce, method: method, path: path)
        input.append(contentsOf: body)
        return Data(HMAC<SHA256>.authenticationCode(for: input, using: key))
    }
}

extension Sequence<UInt8> {
    /// The bytes as lower-case hex digits (without `String(format:)`, which is slow: signing is on every call).
    public var hex: String {
        let digits = Array("0123456789abcdef".utf8)
        var text: [UInt8] = []
        text.reserveCapacity(underestimatedCount * 2)
        for byte in self {
            text.append(digits[Int(byte >> 4)])
            text.append(digits[Int(byte & 0xf)])
        }
        return String(decoding: text, as: UTF8.self)
    }
}

extension Data {

    init?(hex: Substring) {
        guard hex.count % 2 == 0 else { return nil }
        var bytes = [UInt8]()
        bytes.reserveCapacity(hex.count / 2)
        var index = hex.startIndex
        while index < hex.endIndex {
            let next = hex.index(index, offsetBy: 2)
            guard let byte = UInt8(hex[index..<next], radix: 16) else { return nil }
            bytes.append(byte)
            index = next
        }
        self.init(bytes)
    }
}
