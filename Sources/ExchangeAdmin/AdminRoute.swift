import ExchangeAccess
import ExchangeHTTPAPI
import HTTPTypes
import Hummingbird

/// One admin endpoint: the action it performs (what `StaffPolicy` is asked), its method and
/// path under `/api/v1/admin`. Every staff endpoint is one of `Admin.routes`, and the router
/// mounts each behind `authorize`, so no endpoint can skip the policy.
public struct AdminRoute: Sendable {
    public let action: AdminAction
    public let method: HTTPRequest.Method
    /// Hummingbird's syntax (`users/:id`).
    public let path: String
    let handle: @Sendable (Admin, inout Request, AdminCall) async throws -> Response

    init(_ action: AdminAction, _ method: HTTPRequest.Method, _ path: String,
         _ handle: @escaping @Sendable (Admin, inout Request, AdminCall) async throws -> Response) {
        self.action = action
        self.method = method
        self.path = path
        self.handle = handle
    }
}

/// An authorized call: who makes it, from where, with the path's parameters.
struct AdminCall: Sendable {
    var member: StaffMember
    var ip: String
    var parameters: Parameters

    /// The path parameter `name` as a whole number (404 if it is not one).
    func id(_ name: String) throws -> Int64 {
        guard let value = parameters.get(name).flatMap({ Int64($0) }) else { throw BinanceError.notFoundEntity }
        return value
    }

    func text(_ name: String) throws -> String {
        guard let value = parameters.get(name) else { throw BinanceError.notFoundEntity }
        return value
    }
}
