import Foundation

/// A throw-away PKI made with the `openssl` command line in a directory, for TLS tests on loopback: a test CA,
/// a rogue CA nobody trusts, and server certificates (EC P-256, valid 30 days unless said otherwise):
///
/// * ``localhost``: signed by the CA, for `localhost`, `127.0.0.1` and `::1` (subjectAltName).
/// * ``wrongHost``: signed by the CA, for `wrong.example` only.
/// * ``untrusted``: for `localhost`/`127.0.0.1`/`::1`, signed by the rogue CA.
/// * ``expired``: for `localhost`/`127.0.0.1`/`::1`, signed by the CA, valid in January 2020 only (`openssl ca`
///   with explicit dates; OpenSSL 3.0's `x509 -req` cannot back-date).
public struct TestCertificates: Sendable {
    /// A certificate (PEM) and its unencrypted key (PEM).
    public struct Leaf: Sendable, Hashable {
        public let certificate: String
        public let key: String
    }

    public let directory: String
    /// The test CA's certificate: the trust anchor file for clients.
    public var caFile: String { directory + "/ca.pem" }
    public var localhost: Leaf { leaf("localhost") }
    public var wrongHost: Leaf { leaf("wronghost") }
    public var untrusted: Leaf { leaf("untrusted") }
    public var expired: Leaf { leaf("expired") }

    private func leaf(_ name: String) -> Leaf { Leaf(certificate: "\(directory)/\(name).pem", key: "\(directory)/\(name).key") }

    /// Makes the CA and the certificates in `directory` (which must exist). About a second, spent waiting
    /// for `openssl` on a thread of its own (`onOwnThread`), not on the cooperative pool that other tests
    /// running in parallel need.
    public static func make(in directory: String) async throws -> TestCertificates {
        try await onOwnThread { try makeBlocking(in: directory) }
    }

    private static func makeBlocking(in directory: String) throws -> TestCertificates {
        let scriptPath = directory + "/make-certificates.sh"
        try Data(script.utf8).write(to: URL(fileURLWithPath: scriptPath))
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-e", scriptPath, directory]
        let errors = Pipe()
        process.standardError = errors
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        let stderr = errors.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw TestSupportError("openssl failed making test certificates: \(String(decoding: stderr, as: UTF8.self))")
        }
        return TestCertificates(directory: directory)
    }

    private static let script = #"""
set -e
cd "$1"
key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }
ca() { key "$1.key"; openssl req -x509 -new -key "$1.key" -out "$1.pem" -days 30 -subj "/CN=$2" -sha256; }
leaf() { # name san signer
  key "$1.key"
  openssl req -new -key "$1.key" -out "$1.csr" -subj "/CN=$4"
  printf 'basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=%s\n' "$2" > "$1.ext"
  openssl x509 -req -in "$1.csr" -CA "$3.pem" -CAkey "$3.key" -CAcreateserial -days 30 -sha256 -extfile "$1.ext" -out "$1.pem" 2>/dev/null
}
ca ca "wpw test CA"
ca rogue "wpw rogue CA"
leaf localhost "DNS:localhost,IP:127.0.0.1,IP:::1" ca localhost
leaf wronghost "DNS:wrong.example" ca wrong.example
leaf untrusted "DNS:localhost,IP:127.0.0.1,IP:::1" rogue localhost
# expired: openssl ca with explicit past dates
key expired.key
openssl req -new -key expired.key -out expired.csr -subj "/CN=localhost"
mkdir -p ca.db/new && : > ca.db/index.txt && echo 1000 > ca.db/serial
cat > ca.cnf <<CNF
[ ca ]
default_ca = test
[ test ]
dir = ca.db
database = ca.db/index.txt
new_certs_dir = ca.db/new
serial = ca.db/serial
default_md = sha256
policy = any
unique_subject = no
[ any ]
commonName = supplied
[ leaf ]
basicConstraints = CA:FALSE
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost,IP:127.0.0.1,IP:::1
CNF
openssl ca -batch -config ca.cnf -extensions leaf -cert ca.pem -keyfile ca.key -in expired.csr -out expired.pem -notext -startdate 20200101000000Z -enddate 20200201000000Z 2>/dev/null
"""#
}
