import RaftCore

extension Handshake {
    /// The fields of a Hello frame.
    struct Hello: Hashable, Sendable {
        var version: UInt8
        var nodeID: NodeID
        var clusterName: String
        var nonce: [UInt8]
    }

    /// A Hello payload: type, version, node id (varint), cluster name (byte string), nonce.
    static func encodeHello(version: UInt8, nodeID: NodeID, clusterName: String, nonce: [UInt8]) -> [UInt8] {
        var w = WireWriter(reservingCapacity: 48 + clusterName.utf8.count)
        w.writeByte(helloType)
        w.writeByte(version)
        w.writeVarint(nodeID.rawValue)
        w.writeBytes(Array(clusterName.utf8))
        w.writeRaw(nonce)
        return w.bytes
    }

    /// Parses a Hello payload. The version is checked first, so a future version with a
    /// different layout is reported as `wrongVersion`, not `malformed`.
    static func decodeHello(_ payload: [UInt8]) -> Result<Hello, Failure> {
        var r = WireReader(payload)
        do {
            _ = try r.readByte()  // the type byte, checked by the caller
            let version = try r.readByte()
            guard version == protocolVersion else {
                return .failure(Failure(.wrongVersion, "peer speaks protocol version \(version), we speak \(protocolVersion)"))
            }
            let id = NodeID(try r.readVarint())
            let nameBytes = try r.readBytes("cluster name")
            let name = String(decoding: nameBytes, as: UTF8.self)
            guard nameBytes.count <= maxClusterNameBytes, Array(name.utf8) == nameBytes else {
                return .failure(Failure(.malformed, "cluster name is not UTF-8 of at most \(maxClusterNameBytes) bytes"))
            }
            guard r.remaining == nonceSize else {
                return .failure(Failure(.malformed, "Hello nonce has \(r.remaining) bytes, expected \(nonceSize)"))
            }
            let nonce = Array(payload[r.position...])
            return .success(Hello(version: version, nodeID: id, clusterName: name, nonce: nonce))
        } catch {
            return .failure(Failure(.malformed, "Hello: \(error)"))
        }
    }
}
