import AsyncHTTPClient
import ExchangeChain
import Foundation
import NIOCore
import NIOFoundationCompat

/// A `ChainAdapter` over standard Ethereum JSON-RPC (`eth_blockNumber`, `eth_getBlockByNumber`,
/// `eth_sendRawTransaction`, `eth_getTransactionReceipt`, `eth_getTransactionCount`,
/// `eth_getBalance`, `eth_chainId`), so any node works unchanged. Payments are transfers of
/// the native coin (a transaction's `to` and `value`); quantities are hex as the API has them.
public struct EthereumJSONRPC: ChainAdapter {
    public let endpoint: String
    let http: HTTPClient

    /// `http` stays the caller's (one client per process).
    public init(endpoint: String, http: HTTPClient) {
        self.endpoint = endpoint
        self.http = http
    }

    public struct RPCError: Error, CustomStringConvertible {
        public let description: String
    }

    /// One call; the `result` (JSON), or the node's error as `RPCError`.
    func call(_ method: String, _ parameters: [Any]) async throws -> Any? {
        var request = HTTPClientRequest(url: endpoint)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        let body: [String: Any] = ["jsonrpc": "2.0", "id": 1, "method": method, "params": parameters]
        request.body = .bytes(ByteBuffer(data: try JSONSerialization.data(withJSONObject: body)))
        let response = try await http.execute(request, timeout: .seconds(30))
        let bytes = try await response.body.collect(upTo: 64 << 20)
        guard (200..<300).contains(response.status.code),
              let object = try JSONSerialization.jsonObject(with: Data(buffer: bytes)) as? [String: Any] else {
            throw RPCError(description: "\(method): HTTP \(response.status.code)")
        }
        if let error = object["error"] as? [String: Any] {
            throw RPCError(description: "\(method): \(error["message"] as? String ?? "error \(error["code"] ?? "?")")")
        }
        let result = object["result"]
        return result is NSNull ? nil : result
    }

    /// A hex quantity ("0x1b") as an unsigned integer.
    static func quantity(_ value: Any?) throws -> UInt128 {
        guard let text = value as? String, text.hasPrefix("0x"), text.count > 2, text.count <= 34,
              let number = UInt128(text.dropFirst(2), radix: 16) else {
            throw RPCError(description: "not a hex quantity: \(String(describing: value))")
        }
        return number
    }

    static func hex(_ value: UInt128) -> String { "0x" + String(value, radix: 16) }

    public func chainID() async throws -> UInt64 { UInt64(try Self.quantity(try await call("eth_chainId", []))) }

    public func latestBlockNumber() async throws -> UInt64 { UInt64(try Self.quantity(try await call("eth_blockNumber", []))) }

    public func block(_ number: UInt64, paymentsTo addresses: Set<String>) async throws -> WatchedBlock? {
        guard let block = try await call("eth_getBlockByNumber", [Self.hex(UInt128(number)), true]) as? [String: Any] else { return nil }
        guard let hash = block["hash"] as? String, let parent = block["parentHash"] as? String,
              let transactions = block["transactions"] as? [[String: Any]] else {
            throw RPCError(description: "eth_getBlockByNumber \(number): unexpected block")
        }
        let watched = Set(addresses.map { $0.lowercased() })
        var payments: [ChainPayment] = []
        for transaction in transactions {
            guard let to = (transaction["to"] as? String)?.lowercased(), watched.contains(to), let txHash = transaction["hash"] as? String else { continue }
            let value = try Self.quantity(transaction["value"])
            guard value > 0 else { continue }
            payments.append(ChainPayment(key: .init(transactionHash: txHash, outputIndex: 0), address: to, amount: value))
        }
        return WatchedBlock(number: number, hash: hash, parentHash: parent, payments: payments)
    }

    public func broadcast(_ rawTransaction: [UInt8]) async throws -> String {
        let hash = "0x" + Hex.encode(Keccak256.hash(rawTransaction))
        do {
            _ = try await call("eth_sendRawTransaction", ["0x" + Hex.encode(rawTransaction)])
        } catch let error as RPCError {
            // The same bytes again: the node has them (pending) or mined them (its nonce moved on).
            if try await status(ofTransaction: hash) != .unknown { return hash }
            throw error
        }
        return hash
    }

    public func status(ofTransaction hash: String) async throws -> TransactionStatus {
        if let receipt = try await call("eth_getTransactionReceipt", [hash]) as? [String: Any] {
            return .mined(blockNumber: UInt64(try Self.quantity(receipt["blockNumber"])), succeeded: try Self.quantity(receipt["status"]) == 1)
        }
        return try await call("eth_getTransactionByHash", [hash]) == nil ? .unknown : .pending
    }

    public func nextNonce(of address: String) async throws -> UInt64 {
        UInt64(try Self.quantity(try await call("eth_getTransactionCount", [address, "pending"])))
    }

    public func balance(of address: String) async throws -> UInt128 { try Self.quantity(try await call("eth_getBalance", [address, "latest"])) }
}
