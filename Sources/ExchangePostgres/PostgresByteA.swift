import PostgresNIO

/// `bytea` for PostgresNIO's bound parameters.
public struct PostgresByteA: PostgresCodable, Sendable {
    public var bytes: [UInt8]

    public static var psqlType: PostgresDataType { .bytea }
    public static var psqlFormat: PostgresFormat { .binary }

    public init(bytes: [UInt8]) { self.bytes = bytes }

    public func encode<JSONEncoder: PostgresJSONEncoder>(into byteBuffer: inout ByteBuffer, context: PostgresEncodingContext<JSONEncoder>) {
        byteBuffer.writeBytes(bytes)
    }

    public init<JSONDecoder: PostgresJSONDecoder>(
        from buffer: inout ByteBuffer, type: PostgresDataType, format: PostgresFormat, context: PostgresDecodingContext<JSONDecoder>
    ) throws {
        bytes = buffer.readBytes(length: buffer.readableBytes) ?? []
    }
}
