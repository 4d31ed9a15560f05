/// The UDP discovery datagram (PROTOCOL.md §1.3): one compact JSON object, no newline, no framing.
/// Keys in Go order: deviceDescription, hostname, portNumber, serverID, urlPrefix, scheme, deviceName,
/// serviceTypes.
public struct BroadcastMessage: Codable, Sendable, Hashable {
    /// The scheme string Go consumers concatenate into URLs: with `://`.
    public static let httpScheme = "http://"
    public static let defaultPort = 64521
    /// Go scanners read into a 2048-byte buffer; longer datagrams are truncated and fail to parse.
    public static let maxDatagramBytes = 2048

    public var deviceDescription: String
    public var hostname: String
    public var portNumber: Int
    public var serverID: String
    public var urlPrefix: String
    public var scheme: String
    public var deviceName: String
    /// Always encoded as an array (`[]` when empty), never `null`; a `null` from a peer decodes as `[]`.
    public var serviceTypes: [String]

    public init(
        deviceDescription: String, hostname: String, portNumber: Int = BroadcastMessage.defaultPort, serverID: String,
        urlPrefix: String = "", scheme: String = BroadcastMessage.httpScheme, deviceName: String, serviceTypes: [String]
    ) {
        self.deviceDescription = deviceDescription
        self.hostname = hostname
        self.portNumber = portNumber
        self.serverID = serverID
        self.urlPrefix = urlPrefix
        self.scheme = scheme
        self.deviceName = deviceName
        self.serviceTypes = serviceTypes
    }

    /// How the Go consumer builds its base URL: plain concatenation, no brackets for IPv6.
    public var baseURL: String { "\(scheme)\(hostname):\(portNumber)\(urlPrefix)" }

    enum CodingKeys: String, CodingKey {
        case deviceDescription, hostname, portNumber, serverID, urlPrefix, scheme, deviceName, serviceTypes
    }

    public init(from decoder: any Decoder) throws {
        let o = try GoObject(decoder)
        self.init(
            deviceDescription: try o.string("deviceDescription"), hostname: try o.string("hostname"),
            portNumber: try o.int("portNumber"), serverID: try o.string("serverID"), urlPrefix: try o.string("urlPrefix"),
            scheme: try o.string("scheme"), deviceName: try o.string("deviceName"),
            serviceTypes: try o.decode("serviceTypes") ?? [])
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(deviceDescription, forKey: .deviceDescription)
        try c.encode(hostname, forKey: .hostname)
        try c.encode(portNumber, forKey: .portNumber)
        try c.encode(serverID, forKey: .serverID)
        try c.encode(urlPrefix, forKey: .urlPrefix)
        try c.encode(scheme, forKey: .scheme)
        try c.encode(deviceName, forKey: .deviceName)
        try c.encode(serviceTypes, forKey: .serviceTypes)
    }

    /// The datagram bytes; throws when they would not fit a Go scanner's buffer.
    public func datagram() throws -> [UInt8] {
        let bytes = try GoJSON.encode(self)
        guard bytes.count <= Self.maxDatagramBytes else {
            throw EncodingError.invalidValue(self, .init(codingPath: [], debugDescription: "datagram of \(bytes.count) bytes exceeds \(Self.maxDatagramBytes)"))
        }
        return bytes
    }

    /// Parses a received datagram (any JSON object parses, as in Go).
    public static func parse(datagram: some Collection<UInt8>) throws -> BroadcastMessage {
        try GoJSON.decode(BroadcastMessage.self, from: datagram)
    }
}

extension BroadcastMessage: GoJSONReadable {
    static let goFields = GoJSONFields(
        "deviceDescription", "hostname", "portNumber", "serverID", "urlPrefix", "scheme", "deviceName", "serviceTypes")

    public init(goJSON reader: inout GoJSONReader) throws {
        var deviceDescription = GoField<String>(), hostname = GoField<String>(), portNumber = GoField<Int>()
        var serverID = GoField<String>(), urlPrefix = GoField<String>(), scheme = GoField<String>()
        var deviceName = GoField<String>(), serviceTypes = GoField<[String]>()
        try reader.readObject(Self.goFields) { field, reader in
            switch field {
            case 0: try deviceDescription.read(&reader)
            case 1: try hostname.read(&reader)
            case 2: try portNumber.read(&reader)
            case 3: try serverID.read(&reader)
            case 4: try urlPrefix.read(&reader)
            case 5: try scheme.read(&reader)
            case 6: try deviceName.read(&reader)
            default: try serviceTypes.take { try reader.readArray { try $0.readNonNullString() } }
            }
        }
        self.init(
            deviceDescription: try deviceDescription.value ?? "", hostname: try hostname.value ?? "",
            portNumber: try portNumber.value ?? 0, serverID: try serverID.value ?? "", urlPrefix: try urlPrefix.value ?? "",
            scheme: try scheme.value ?? "", deviceName: try deviceName.value ?? "", serviceTypes: try serviceTypes.value ?? [])
    }
}
