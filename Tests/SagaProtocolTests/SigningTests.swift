import Foundation
import SagaProtocol
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
