#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import NIOCore
import WPWithinCore

enum SocketSupport {
    /// `SO_REUSEPORT`, which NIOCore does not name.
    static var reusePortOption: ChannelOptions.Types.SocketOption {
        ChannelOptions.socketOption(NIOBSDSocket.Option(rawValue: SO_REUSEPORT))
    }

    /// The wall clock as the domain's `Instant`.
    static func wallClockNow() -> Instant {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Instant(secondsSinceEpoch: Int64(ts.tv_sec), nanoseconds: Int32(ts.tv_nsec))
    }

    /// An IPv4 socket address from a literal host (no name resolution: discovery is udp4 only).
    static func ipv4(_ host: String, port: Int, field: String) throws -> SocketAddress {
        guard (0...65535).contains(port) else {
            throw WPWError.invalidParams(field: field, "port \(port) is out of range")
        }
        do {
            let address = try SocketAddress(ipAddress: host, port: port)
            guard case .v4 = address else { throw WPWError.invalidParams(field: field, "\(host) is not an IPv4 address") }
            return address
        } catch let error as WPWError {
            throw error
        } catch {
            throw WPWError.invalidParams(field: field, "\(host) is not an IPv4 address")
        }
    }

    /// The first IPv4 address of interface `name`.
    static func ipv4(ofInterface name: String, port: Int) throws -> SocketAddress {
        let devices: [NIONetworkDevice]
        do {
            devices = try System.enumerateDevices()
        } catch {
            throw WPWError(.internalError, "cannot list network interfaces: \(error)")
        }
        for device in devices where device.name == name {
            guard var address = device.address, case .v4 = address else { continue }
            address.port = port
            return address
        }
        throw WPWError.invalidParams(field: "source", "interface \(name) has no IPv4 address")
    }
}
