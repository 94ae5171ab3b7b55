"""A loopback stand-in for the FIT IoT-LAB testbed: the subset of its REST API
that utoe's IoT-LAB runner uses, over real HTTP (iotlabcli talks to it
unchanged), and the node serial websocket, over a real websocket.

REST (under /api/, HTTP basic auth):
    GET    nodes?archi=..&state=Alive    {"items": [{"network_address", "site", "archi", "state"}]}
    POST   experiments                    multipart with new_exp.json -> {"id": N}
    GET    experiments/N                  {"id", "state", "nodes": [...]}
    POST   experiments/N/nodes/flash      multipart: firmware + nodes.json -> {"0": [ok], "1": [failed]}
    GET    experiments/N/token            {"token": "..."}
    DELETE experiments/N                  stop
Websocket: /ws/<site>/<N>/<node>/serial/raw, subprotocols [user, "token", token].

The node runs the real host-built harness for every 'start <id>' (like
tests/fake_board.py). Behaviour switches: `state_after_submit` (e.g.
"Waiting" forever: no free node), `flash_fails`, `mute`, `refuse_submit`.
Every request is recorded in `requests` as (method, path)."""

import base64
import email.parser
import email.policy
import json
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from websockets.sync.server import serve

USER, PASSWORD = "alice", "s3cret"
NODE = "m3-7.grenoble.iot-lab.info"


class LoopbackTestbed:
    def __init__(self, firmware, user=USER, password=PASSWORD):
        self.firmware = firmware
        self.auth = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
        self.requests = []
        self.experiments = {}  # id -> {"state", "nodes", "arch", "site", "stopped"}
        self.flashed = []  # (exp id, node, firmware bytes)
        self.next_id = 1000
        self.token = "tok3n"
        self.state_after_submit = "Running"
        self.flash_fails = False
        self.mute = False
        self.refuse_submit = False
        self.on_start = None  # called with the run id when the node is started (tests raise from it)
        self.lock = threading.Lock()
        self.http = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.ws = serve(self._serial, "127.0.0.1", 0, subprotocols=["token"], select_subprotocol=self._select)
        self.api_url = f"http://127.0.0.1:{self.http.server_address[1]}/api/"
        self.ws_url = f"ws://127.0.0.1:{self.ws.socket.getsockname()[1]}/ws"
        for target in (self.http.serve_forever, self.ws.serve_forever):
            threading.Thread(target=target, daemon=True).start()

    def close(self):
        self.http.shutdown()
        self.ws.shutdown()

    def stops(self):
        return [p for m, p in self.requests if m == "DELETE"]

    # ---- websocket: the node's serial line ----

    def _select(self, connection, subprotocols):
        if len(subprotocols) == 3 and subprotocols[1] == "token" and subprotocols[2] == self.token:
            return "token"
        return None

    def _serial(self, ws):
        path = ws.request.path
        with self.lock:
            self.requests.append(("WS", path))
        if ws.subprotocol != "token":
            ws.close(code=1008, reason="invalid token")
            return
        ws.send(b"\x00\xffreset\r\nmain(): This is RIOT! (Version: 2026.01-fake)\r\n")
        if not self.mute:
            ws.send(b"utoe: ready board=native model=sinus\n")
        buf = b""
        for message in ws:
            buf += message if isinstance(message, bytes) else message.encode()
            *lines, buf = buf.split(b"\n")
            for line in lines:
                line = line.strip().decode()
                if not line.startswith("start ") or self.mute:
                    continue
                run_id = line.split()[1]
                if self.on_start:
                    self.on_start(run_id)
                out = subprocess.run([self.firmware], capture_output=True).stdout
                ws.send(f"utoe: start run={run_id}\n".encode() + out + b"utoe: ready board=native model=sinus\n")


def _handler(bed):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def _reply(self, code, body=None):
            data = json.dumps(body).encode() if body is not None else b""
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _route(self, method):
            with bed.lock:
                bed.requests.append((method, self.path))
            if self.headers.get("Authorization") != bed.auth:
                return self._reply(401, {"message": "Unauthorized"})
            path = self.path.split("?")[0].strip("/").split("/")[1:]  # after "api"
            if method == "GET" and path == ["nodes"]:
                return self._reply(200, {"items": [
                    {"network_address": NODE, "site": "grenoble", "archi": "m3:at86rf231", "state": "Alive"},
                    {"network_address": "m3-1.lille.iot-lab.info", "site": "lille", "archi": "m3:at86rf231",
                     "state": "Alive"},
                    {"network_address": "m3-9.grenoble.iot-lab.info", "site": "grenoble",
                     "archi": "m3:at86rf231", "state": "Alive"}]})
            if method == "POST" and path == ["experiments"]:
                if bed.refuse_submit:
                    return self._reply(500, {"message": "no resources matching the request"})
                form = self._form()
                desc = json.loads(form["new_exp.json"])
                alias = desc["nodes"][0]
                with bed.lock:
                    exp_id = bed.next_id
                    bed.next_id += 1
                    site = alias["properties"]["site"]
                    bed.experiments[exp_id] = {"state": bed.state_after_submit, "arch": alias["properties"]["archi"],
                                               "site": site, "duration": desc["duration"],
                                               "nodes": [NODE.replace("grenoble", site)]}
                return self._reply(200, {"id": exp_id})
            if len(path) >= 2 and path[0] == "experiments" and int(path[1]) in bed.experiments:
                exp_id = int(path[1])
                exp = bed.experiments[exp_id]
                if method == "GET" and len(path) == 2:
                    return self._reply(200, {"id": exp_id, "state": exp["state"],
                                             "nodes": exp["nodes"] if exp["state"] == "Running" else []})
                if method == "DELETE" and len(path) == 2:
                    exp["state"] = "Terminated"
                    return self._reply(200, {"id": exp_id, "status": "Delete request registered"})
                if method == "GET" and path[2:] == ["token"]:
                    return self._reply(200, {"token": bed.token})
                if method == "POST" and path[2:] == ["nodes", "flash"]:
                    form = self._form()
                    nodes = json.loads(form["nodes.json"])
                    firmware = [v for k, v in form.items() if k.endswith(".elf")]
                    bed.flashed.append((exp_id, nodes, firmware[0] if firmware else None))
                    if bed.flash_fails:
                        return self._reply(200, {"1": nodes})
                    return self._reply(200, {"0": nodes})
            return self._reply(404, {"message": f"no such resource {self.path}"})

        def _form(self):
            """multipart/form-data -> {file name or field name: bytes}"""
            body = self.rfile.read(int(self.headers["Content-Length"]))
            head = f"Content-Type: {self.headers['Content-Type']}\r\n\r\n".encode()
            msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
            return {part.get_filename() or part.get_param("name", header="content-disposition"):
                    part.get_payload(decode=True) for part in msg.iter_parts()}

        def do_GET(self):
            self._route("GET")

        def do_POST(self):
            self._route("POST")

        def do_DELETE(self):
            self._route("DELETE")

    return Handler
