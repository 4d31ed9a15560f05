import Testing
import WPWithinCrypto

private func hex(_ bytes: [UInt8]) -> String { bytes.map { String(format: $0) }.joined() }
private func String(format byte: UInt8) -> String {
    let digits = Array("0123456789abcdef")
    return "\(digits[Int(byte >> 4)])\(digits[Int(byte & 0xF)])"
}

@Suite struct HMACSHA256Tests {
    struct Vector: Sendable, CustomTestStringConvertible {
        let name: String
        let key: [UInt8]
        let data: [UInt8]
        let mac: String
        var testDescription: String { name }
    }

    // RFC 4231 §4.2–4.8 (test case 5, truncated output, is not applicable to a full-length MAC).
    static let vectors: [Vector] = [
        Vector(name: "RFC 4231 case 1", key: [UInt8](repeating: 0x0b, count: 20), data: Array("Hi There".utf8),
               mac: "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"),
        Vector(name: "RFC 4231 case 2", key: Array("Jefe".utf8), data: Array("what do ya want for nothing?".utf8),
               mac: "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"),
        Vector(name: "RFC 4231 case 3", key: [UInt8](repeating: 0xaa, count: 20), data: [UInt8](repeating: 0xdd, count: 50),
               mac: "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe"),
        Vector(name: "RFC 4231 case 4", key: Array(1...25), data: [UInt8](repeating: 0xcd, count: 50),
               mac: "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b"),
        Vector(name: "RFC 4231 case 6", key: [UInt8](repeating: 0xaa, count: 131),
               data: Array("Test Using Larger Than Block-Size Key - Hash Key First".utf8),
               mac: "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"),
        Vector(name: "RFC 4231 case 7", key: [UInt8](repeating: 0xaa, count: 131),
               data: Array("This is a test using a larger than block-size key and a larger than block-size data. The key needs to be hashed before being used by the HMAC algorithm.".utf8),
               mac: "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2"),
    ]

    @Test(arguments: vectors) func rfc4231(_ vector: Vector) {
        let mac = HMACSHA256.authenticate(key: vector.key, data: vector.data)
        #expect(hex(mac) == vector.mac)
        #expect(HMACSHA256.isValid(mac, key: vector.key, data: vector.data))
    }

    /// A prepared key gives every vector's MAC, again and again, interleaved with other messages: each MAC
    /// starts from copies of the key's states, never from what the last one left.
    @Test func aPreparedKeyIsReusable() {
        let keys = Self.vectors.map { HMACSHA256.Key($0.key) }
        for _ in 0..<3 {
            for (key, vector) in zip(keys, Self.vectors) {
                #expect(hex(key.authenticate(vector.data)) == vector.mac, "\(vector.name)")
                _ = key.authenticate(Array("something else".utf8))
                #expect(key.isValid(key.authenticate(vector.data), for: vector.data))
            }
        }
    }

    @Test func tamperedMacIsRejected() {
        let key = [UInt8](repeating: 0x0b, count: 20)
        var mac = HMACSHA256.authenticate(key: key, data: Array("Hi There".utf8))
        mac[31] ^= 1
        #expect(!HMACSHA256.isValid(mac, key: key, data: Array("Hi There".utf8)))
        #expect(!HMACSHA256.isValid(Array(mac.prefix(16)), key: key, data: Array("Hi There".utf8)))
    }

    @Test func emptyDataHasAMac() {
        // HMAC-SHA256(key = "", data = "") is a well-known constant.
        #expect(hex(HMACSHA256.authenticate(key: [], data: [])) == "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad")
    }
}

@Suite struct SHA256Tests {
    @Test func fipsVectors() {
        #expect(hex(SHA256.digest("abc")) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(hex(SHA256.digest("")) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(hex(SHA256.digest("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"))
            == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
    }

    @Test func oneMillionA() {
        #expect(hex(SHA256.digest([UInt8](repeating: UInt8(ascii: "a"), count: 1_000_000)))
            == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }
}

@Suite struct CryptoTests {
    @Test func randomBytesHaveTheRequestedLengthAndDiffer() throws {
        #expect(try Crypto.randomBytes(count: 0).isEmpty)
        let a = try Crypto.randomBytes(count: 32)
        let b = try Crypto.randomBytes(count: 32)
        #expect(a.count == 32 && b.count == 32)
        #expect(a != b)  // 2^-256 chance of a false failure
        #expect(throws: CryptoError.self) { try Crypto.randomBytes(count: -1) }
    }

    @Test func constantTimeEqual() {
        #expect(Crypto.equal([1, 2, 3], [1, 2, 3]))
        #expect(!Crypto.equal([1, 2, 3], [1, 2, 4]))
        #expect(!Crypto.equal([1, 2, 3], [1, 2]))
        #expect(Crypto.equal([], []))
    }

    @Test func tokenSignerNeedsALongKeyAndVerifies() throws {
        #expect(throws: CryptoError.self) { try HMACTokenSigner(key: [UInt8](repeating: 1, count: 31)) }
        let key = try HMACTokenSigner.generateKey()
        #expect(key.count == 32)
        let signer = try HMACTokenSigner(key: key)
        let signature = signer.sign(Array("claims".utf8))
        #expect(signature == HMACSHA256.authenticate(key: key, data: Array("claims".utf8)))
        #expect(signer.verify(signature, for: Array("claims".utf8)))
        #expect(!signer.verify(signature, for: Array("claimz".utf8)))
        let other = try HMACTokenSigner(key: HMACTokenSigner.generateKey())
        #expect(!other.verify(signature, for: Array("claims".utf8)))
        #expect(try SystemRandomBytes().bytes(count: 16).count == 16)
    }
}
