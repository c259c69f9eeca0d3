import Foundation
@testable import SagaProtocol
import Testing

@Suite struct SigningTests {
    let secrets = SigningSecrets("new-secret, old-secret")!

    @Test func validSignaturePassesOnceThenIsReplayed() throws {
        let signer = RequestSigner(secrets)
        let verifier = SignatureVerifier(secrets)
        let body = Data(#"{"a":1}"#.utf8)
        let header = signer.signature(method: "POST", path: "/commands", body: body)
        try verifier.verify(header: header, method: "POST", path: "/commands", body: body)
        #expect(throws: SignatureError.replayed) {
            try verifier.verify(header: header, method: "POST", path: "/commands", body: body)
        }
    }

    @Test func noncesAreForgottenOnceTheirSecondLeavesTheWindow() throws {
        let signer = RequestSigner(secrets)
        let verifier = SignatureVerifier(secrets, window: 300)
        let start = Date(timeIntervalSince1970: 1_800_000_000)
        for second in 0..<10 {
            for _ in 0..<100 {
                let now = start.addingTimeInterval(Double(second))
                try verifier.verify(
                    header: signer.signature(method: "POST", path: "/x", body: Data(), now: now), method: "POST", path: "/x",
                    body: Data(), now: now)
            }
        }
        #expect(verifier.rememberedNonces == 1_000)
        let later = start.addingTimeInterval(305)
        try verifier.verify(
            header: signer.signature(method: "POST", path: "/x", body: Data(), now: later), method: "POST", path: "/x",
            body: Data(), now: later)
        #expect(verifier.rememberedNonces == 501)  // seconds 5…9 and the new one
    }

    @Test(arguments: ["abc", "zz" + String(repeating: "0", count: 30), String(repeating: "0", count: 33)])
    func nonceMustBe128BitsOfHex(_ nonce: String) throws {
        let now = Date()
        let valid = RequestSigner(secrets).signature(method: "GET", path: "/x", body: Data(), now: now)
        let forgedNonce = valid.replacing(/n=[0-9a-f]+/, with: "n=\(nonce)")
        #expect(throws: SignatureError.malformed) {
            try SignatureVerifier(secrets).verify(header: forgedNonce, method: "GET", path: "/x", body: Data(), now: now)
        }
    }

    @Test func rotatedSecretStillVerifies() throws {
        let oldSigner = RequestSigner(SigningSecrets("old-secret")!)
        let body = Data("x".utf8)
        let header = oldSigner.signature(method: "GET", path: "/x", body: body)
        try SignatureVerifier(secrets).verify(header: header, method: "GET", path: "/x", body: body)
    }

    @Test(arguments: ["changed-body", "wrong-secret", "stale", "missing", "other-path", "garbage"])
    func refusals(kind: String) {
        let verifier = SignatureVerifier(secrets)
        let body = Data("body".utf8)
        let signer = RequestSigner(kind == "wrong-secret" ? SigningSecrets("nope")! : secrets)
        let signedAt = kind == "stale" ? Date().addingTimeInterval(-600) : Date()
        let header: String? =
            switch kind {
            case "missing": nil
            case "garbage": "hello"
            default: signer.signature(method: "POST", path: "/commands", body: body, now: signedAt)
            }
        let expected: SignatureError =
            switch kind {
            case "missing": .missing
            case "garbage": .malformed
            case "stale": .stale
            default: .forged
            }
        #expect(throws: expected) {
            try verifier.verify(
                header: header, method: "POST", path: kind == "other-path" ? "/admin/faults" : "/commands",
                body: kind == "changed-body" ? Data("bodY".utf8) : body)
        }
    }
}
