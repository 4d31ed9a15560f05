import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A throwaway PostgreSQL server for tests: `initdb` into a temporary directory, `pg_ctl start` listening on
/// a Unix socket in that directory only (no TCP port at all), one database. Run as the `postgres` user when
/// the tests run as root (the server refuses root), as the current user otherwise. Debian's `postgresql`
/// package provides the programs (`make test` installs it when missing).
public final class PostgresServer: @unchecked Sendable {
    /// The directory holding the data, the socket and the log.
    public let directory: String
    public let database = "wpw"
    public let user = "wpw"
    private let bin: String
    private let runAs: String?

    /// libpq's connection string for the test database.
    public var connectionString: String { "host=\(directory) user=\(user) dbname=\(database) connect_timeout=10" }

    /// Initialises and starts a new server, and creates the database. Blocking: call it with `onOwnThread`.
    public init() throws {
        bin = try Self.binDirectory()
        runAs = getuid() == 0 ? "postgres" : nil
        var template = Array("/tmp/wpw-pg-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { throw TestSupportError("mkdtemp failed") }
        directory = String(cString: made)
        chmod(directory, 0o755)
        if let runAs {
            guard let account = getpwnam(runAs) else { throw TestSupportError("no \(runAs) user: install postgresql") }
            chown(directory, account.pointee.pw_uid, account.pointee.pw_gid)
        }
        try run("initdb", ["-D", "\(directory)/data", "-U", user, "--auth=trust", "-E", "UTF8", "--no-sync", "--no-instructions"])
        try start()
        try run("createdb", ["-h", directory, "-U", user, database])
    }

    /// Starts the (stopped) server again on the same data.
    public func start() throws {
        try run("pg_ctl", [
            "-D", "\(directory)/data", "-l", "\(directory)/server.log", "-w", "-t", "60",
            "-o", "-k \(directory) -c listen_addresses='' -c max_connections=64", "start",
        ])
    }

    /// Stops the server: `fast` ends every session at once (an outage the members must survive).
    public func stop(mode: String = "fast") throws {
        try run("pg_ctl", ["-D", "\(directory)/data", "-m", mode, "-w", "-t", "60", "stop"])
    }

    /// Stops the server and removes everything.
    public func destroy() {
        try? stop(mode: "immediate")
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// `psql` with `sql` on a thread of its own (it waits for a process: never on the concurrency pool's
    /// few threads, which other suites need), its output trimmed.
    public func query(_ sql: String) async throws -> String {
        try await onOwnThread { try self.psql(sql) }.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// ``destroy()`` on a thread of its own.
    public func shutDown() async {
        _ = try? await onOwnThread { self.destroy() }
    }

    /// `psql` with `sql`, returning its unaligned, tuples-only output.
    public func psql(_ sql: String) throws -> String {
        try run("psql", ["-h", directory, "-U", user, "-d", database, "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql])
    }

    @discardableResult
    private func run(_ program: String, _ arguments: [String]) throws -> String {
        let argv = (runAs.map { ["/usr/sbin/runuser", "-u", $0, "--"] } ?? []) + ["\(bin)/\(program)"] + arguments
        // Output to a file, not a pipe: `pg_ctl start` leaves the server running with the descriptors it
        // inherited, and a pipe would then never reach its end. posix_spawn and waitpid directly: Foundation's
        // Process did not always see a child exit whose grandchild (the server) lives on.
        let outputPath = "\(directory)/\(program)-\(UUID().uuidString.prefix(8)).out"
        defer { unlink(outputPath) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, outputPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        // The server lives on: it must not hold the test process's other descriptors (sockets) open.
        try closeInheritedDescriptors(&actions)
        var cArguments = argv.map { strdup($0) } + [nil]
        defer { for pointer in cArguments { free(pointer) } }
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, argv[0], &actions, nil, &cArguments, environ)
        guard spawned == 0 else { throw TestSupportError("cannot run \(argv[0]): errno \(spawned)") }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        let text = (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? ""
        let exited = status & 0x7f == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
        guard exited == 0 else {
            let log = (try? String(contentsOfFile: "\(directory)/server.log", encoding: .utf8)) ?? ""
            throw TestSupportError("\(program) \(arguments.joined(separator: " ")) exited \(exited): \(text)\n\(log.suffix(2000))")
        }
        return text
    }

    /// `/usr/lib/postgresql/<newest>/bin`.
    static func binDirectory() throws -> String {
        let root = "/usr/lib/postgresql"
        let versions = ((try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []).compactMap(Int.init).sorted()
        guard let newest = versions.last, FileManager.default.isExecutableFile(atPath: "\(root)/\(newest)/bin/initdb") else {
            throw TestSupportError("PostgreSQL's server programs are not installed (apt-get install -y postgresql)")
        }
        return "\(root)/\(newest)/bin"
    }
}
