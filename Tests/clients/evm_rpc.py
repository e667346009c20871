"""A real EVM (py-evm, through eth-tester) served over standard Ethereum JSON-RPC, for the
wallet's chain tests: the methods the wallet's adapter calls, answered as a node answers
them (hex quantities, camelCase fields). Blocks are mined on every transaction; `mine(n)`
mines empty ones."""
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from eth_tester import EthereumTester, PyEVMBackend


def quantity(value):
    return hex(value)


class EVMNode:
    def __init__(self):
        self.tester = EthereumTester(PyEVMBackend())
        self.lock = threading.Lock()
        self.server = None

    @property
    def funded_accounts(self):
        return self.tester.get_accounts()

    def mine(self, blocks=1):
        with self.lock:
            self.tester.mine_blocks(blocks)

    def send(self, sender, to, value):
        """A transfer from one of eth-tester's funded accounts (what a depositor does)."""
        with self.lock:
            return self.tester.send_transaction({"from": sender, "to": to, "value": value, "gas": 21000, "gas_price": 2 * 10**9})

    def nonce(self, address):
        """Transactions `address` has sent (eth-tester mines each at once: none wait)."""
        with self.lock:
            return self.tester.get_nonce(address)

    def balance(self, address):
        with self.lock:
            return self.tester.get_balance(address)

    def handle(self, method, params):
        t = self.tester
        if method == "eth_chainId":
            return quantity(t.backend.chain.chain_id)
        if method == "eth_blockNumber":
            return quantity(t.get_block_by_number("latest")["number"])
        if method == "eth_getBlockByNumber":
            try:
                block = t.get_block_by_number(int(params[0], 16), full_transactions=True)
            except Exception:
                return None
            return {"number": quantity(block["number"]), "hash": block["hash"], "parentHash": block["parent_hash"],
                    "transactions": [{"hash": tx["hash"], "from": tx["from"], "to": tx["to"], "value": quantity(tx["value"]),
                                      "nonce": quantity(tx["nonce"])} for tx in block["transactions"]]}
        if method == "eth_sendRawTransaction":
            return t.send_raw_transaction(params[0])
        if method == "eth_getTransactionReceipt":
            try:
                receipt = t.get_transaction_receipt(params[0])
            except Exception:
                return None
            if receipt.get("block_number") is None:
                return None
            return {"transactionHash": receipt["transaction_hash"], "blockNumber": quantity(receipt["block_number"]),
                    "status": quantity(receipt["status"])}
        if method == "eth_getTransactionByHash":
            try:
                tx = t.get_transaction_by_hash(params[0])
            except Exception:
                return None
            return {"hash": tx["hash"], "blockNumber": None if tx.get("block_number") is None else quantity(tx["block_number"])}
        if method == "eth_getTransactionCount":
            return quantity(t.get_nonce(params[0]))
        if method == "eth_getBalance":
            return quantity(t.get_balance(params[0]))
        raise ValueError(f"method {method} not served")

    def start(self):
        node = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                try:
                    with node.lock:
                        answer = {"jsonrpc": "2.0", "id": request.get("id"), "result": node.handle(request["method"], request.get("params", []))}
                except Exception as error:  # the node's refusal, as a node reports it
                    answer = {"jsonrpc": "2.0", "id": request.get("id"), "error": {"code": -32000, "message": str(error)}}
                body = json.dumps(answer).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                try:
                    self.wfile.write(body)
                except BrokenPipeError:
                    pass  # the caller died mid-request (a drill kills the wallet)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        return self

    def stop(self):
        self.server.shutdown()
