"""The IoT-LAB runner: a remote board of the FIT IoT-LAB testbed.

With iotlabcli (the testbed's own client) and the user's credentials
(`iotlab-auth -u <login>` writes ~/.iotlabrc; IOTLAB_PASSWORD_FILE elsewhere),
it submits an experiment for one node of the board's IoT-LAB architecture
(boards/<board>.toml, iotlab_arch), waits until it runs, flashes the RIOT
firmware through the REST API, and reads the node's serial line through the
testbed's websocket (wss://<host>/ws/<site>/<exp>/<node>/serial/raw, with the
experiment's token, the way iotlabwscli does: no ssh key needed), driving the
live-console protocol (runners/console.py).

Experiments this process submitted are shared by its later evaluations on
the same architecture and site (one `scons` invocation, several models), and
stopped when the process exits; one whose evaluation fails or is
interrupted (Ctrl-C) is stopped at once. An experiment given with
iotlab_exp= is the user's and is never stopped. The API's address is
iotlabcli's (~/.iotlab.api-url or IOTLAB_API_URL); the websocket's is derived
from it, or UTOE_IOTLAB_WS_URL for a testbed that serves it elsewhere."""

import atexit
import contextlib
import os
import threading
import time
from urllib.error import HTTPError
from urllib.parse import urlsplit

from ..errors import ConfigError, RunError
from ..files import write_text
from .base import Runner
from .console import ConsoleClosed, Session, Transport

DEFAULT_DURATION_MIN = 20
CLI_STOP = "iotlab-experiment stop -i {}"


class WebsocketTransport(Transport):
    """A node's serial line over the testbed's websocket (raw bytes)."""

    def __init__(self, url, user, token, node):
        from websockets.exceptions import InvalidHandshake, InvalidURI
        from websockets.sync.client import connect

        self.what = f"IoT-LAB node {node}'s serial line"
        self._stack = contextlib.ExitStack()
        try:
            self.ws = self._stack.enter_context(
                connect(url, subprotocols=[user, "token", token], open_timeout=20, close_timeout=2, max_size=None))
        except (OSError, InvalidHandshake, InvalidURI, TimeoutError) as e:
            raise RunError(f"IoT-LAB: cannot open {self.what} at {url}: {e}") from None

    def write(self, data):
        from websockets.exceptions import ConnectionClosed

        try:
            self.ws.send(data)
        except ConnectionClosed as e:
            raise ConsoleClosed(f"{self.what} closed ({e})") from None

    def read(self, timeout):
        from websockets.exceptions import ConnectionClosed

        try:
            data = self.ws.recv(timeout=max(0.0, timeout))
        except TimeoutError:
            return b""
        except ConnectionClosed as e:
            raise ConsoleClosed(f"{self.what} closed ({e})") from None
        return data.encode() if isinstance(data, str) else data

    def close(self):
        self._stack.close()


class _Experiments:
    """The experiments this process submitted, shared and stopped at exit."""

    def __init__(self):
        self.lock = threading.Lock()
        self.started = {}  # (arch, site or "") -> {"id", "nodes", "api"}
        atexit.register(self.stop_all)

    def stop(self, key):
        with self.lock:
            exp = self.started.pop(key, None)
        if exp:
            _stop(exp["api"], exp["id"])

    def stop_all(self):
        for key in list(self.started):
            self.stop(key)


EXPERIMENTS = _Experiments()


def _stop(api, exp_id):
    from iotlabcli import experiment

    try:
        experiment.stop_experiment(api, exp_id)
    except HTTPError as e:
        if e.code == 404:  # already gone
            return
        raise RunError(f"IoT-LAB: could not stop experiment {exp_id} ({e.code}): stop it with "
                       f"`{CLI_STOP.format(exp_id)}`") from None
    except Exception as e:  # network down: say what is left reserved
        raise RunError(f"IoT-LAB: could not stop experiment {exp_id} ({e}): stop it with "
                       f"`{CLI_STOP.format(exp_id)}`") from None


def _http_error(e, doing):
    body = (e.msg or "").strip().replace("\n", " ").replace("\t", "")
    if e.code == 401:
        return RunError(f"IoT-LAB refused the credentials while {doing} (401): run `iotlab-auth -u <login>` "
                        "again with the right password")
    return RunError(f"IoT-LAB: {doing} failed (HTTP {e.code}): {body[:300]}")


def connect():
    """(api, user) from the user's IoT-LAB credentials; ConfigError if none."""
    from iotlabcli import auth, rest

    try:
        user, password = auth.get_user_credentials()
    except ValueError as e:
        raise ConfigError(f"IoT-LAB credentials unreadable: {e}; run `iotlab-auth -u <login>`") from None
    if not user or not password:
        raise ConfigError(f"IoT-LAB credentials missing: no {auth.RC_FILE}; run `iotlab-auth -u <login>` "
                          "(it stores them there) and try again")
    api = rest.Api(user, password)
    url = os.environ.get("IOTLAB_API_URL")
    if url:  # iotlabcli reads it once, at import; honour a value set later
        api.url = url if url.endswith("/") else url + "/"
    return api, user


def ws_url(api_url, site, exp_id, node):
    base = os.environ.get("UTOE_IOTLAB_WS_URL")
    if not base:
        u = urlsplit(api_url)
        scheme = "wss" if u.scheme == "https" else "ws"
        base = f"{scheme}://{u.netloc}/ws"
    return f"{base.rstrip('/')}/{site}/{exp_id}/{node}/serial/raw"


class IotlabRunner(Runner):
    name = "iotlab"
    riot = True
    deterministic = False
    options = ("iotlab_site", "iotlab_node", "iotlab_exp", "iotlab_duration")
    # Seconds between state polls, and how long a submitted experiment may wait for a node.
    POLL_SECONDS = 5
    WAIT_SECONDS = 600

    def run(self, elf_path, log_path):
        arch = self.board.iotlab_arch
        if not arch:
            raise ConfigError(f"board '{self.board.name}' is not on IoT-LAB (no field 'iotlab_arch' in "
                              f"{self.board.path})")
        api, user = connect()
        exp_id, nodes, key = self._experiment(api, arch)
        try:
            node = self._node(nodes, exp_id)
            self._flash(api, exp_id, node, elf_path)
            short, site = node.split(".")[0], node.split(".")[1]
            try:
                token = api.method(f"experiments/{exp_id}/token")["token"]
            except HTTPError as e:
                raise _http_error(e, f"getting experiment {exp_id}'s token") from None
            transport = WebsocketTransport(ws_url(api.url, site, exp_id, short), user, token, node)
            try:
                log = Session(transport, self.timeout, self.fail).evaluate()
            finally:
                transport.close()
        except BaseException:
            if key is not None:  # ours: nothing stays reserved after a failure or Ctrl-C
                EXPERIMENTS.stop(key)
            raise
        write_text(log_path, log)
        return log

    def _experiment(self, api, arch):
        """(id, nodes, key): the user's experiment (key None), a shared one, or a new one."""
        from iotlabcli import experiment

        given = self.opts.get("iotlab_exp")
        if given:
            try:
                info = experiment.get_experiment(api, int(given))
            except ValueError:
                raise ConfigError(f"iotlab_exp={given}: not an experiment id") from None
            except HTTPError as e:
                raise _http_error(e, f"reading experiment {given}") from None
            if info.get("state") != "Running":
                raise RunError(f"IoT-LAB experiment {given} is '{info.get('state')}', not Running")
            return int(given), info.get("nodes") or [], None
        site = self.opts.get("iotlab_site") or ""
        key = (arch, site)
        with EXPERIMENTS.lock:
            exp = EXPERIMENTS.started.get(key)
            if exp:
                return exp["id"], exp["nodes"], key
            exp_id, nodes = self._submit(api, arch, site or self._site(api, arch))
            EXPERIMENTS.started[key] = {"id": exp_id, "nodes": nodes, "api": api}
        return exp_id, nodes, key

    def _site(self, api, arch):
        """The site with the most alive nodes of the architecture."""
        try:
            items = api.get_nodes(archi=arch, state="Alive").get("items", [])
        except HTTPError as e:
            raise _http_error(e, f"listing nodes of architecture {arch}") from None
        sites = {}
        for n in items:
            sites[n.get("site")] = sites.get(n.get("site"), 0) + 1
        if not sites:
            raise RunError(f"IoT-LAB has no alive node of architecture '{arch}' (board '{self.board.name}') "
                           "on any site")
        return max(sorted(sites), key=lambda s: sites[s])

    def _submit(self, api, arch, site):
        from iotlabcli import experiment

        minutes = int(self.opts.get("iotlab_duration") or DEFAULT_DURATION_MIN)
        resources = [experiment.exp_resources(experiment.AliasNodes(1, site, arch))]
        try:
            exp_id = experiment.submit_experiment(api, f"utoe-{self.board.name}", minutes, resources)["id"]
        except HTTPError as e:
            raise _http_error(e, f"submitting an experiment for a {arch} node at {site}") from None
        try:
            experiment.wait_experiment(api, exp_id, step=self.POLL_SECONDS, timeout=self.WAIT_SECONDS)
            info = experiment.get_experiment(api, exp_id)
        except BaseException as e:
            try:
                _stop(api, exp_id)
            except RunError as stop_error:
                raise stop_error from None
            if isinstance(e, RuntimeError):  # iotlabcli: Error/Terminated state, or its wait timed out
                raise RunError(f"IoT-LAB: no {arch} node free at {site} for experiment {exp_id} ({e}); "
                               "the experiment was stopped: try another site (iotlab_site=) or later") from None
            if isinstance(e, HTTPError):
                raise _http_error(e, f"waiting for experiment {exp_id}") from None
            raise
        return exp_id, info.get("nodes") or []

    def _node(self, nodes, exp_id):
        want = self.opts.get("iotlab_node")
        if want:
            match = [n for n in nodes if n == want or n.split(".")[0] == want.split(".")[0]
                     and (len(want.split(".")) < 2 or n.split(".")[1] == want.split(".")[1])]
            if not match:
                raise RunError(f"iotlab_node={want} is not in experiment {exp_id} (its nodes: "
                               f"{', '.join(nodes) or 'none'})")
            return match[0]
        if not nodes:
            raise RunError(f"IoT-LAB experiment {exp_id} has no nodes")
        return nodes[0]

    def _flash(self, api, exp_id, node, elf_path):
        from iotlabcli import node as node_cli

        try:
            result = node_cli.node_command(api, "flash", exp_id, [node], elf_path)
        except HTTPError as e:
            raise _http_error(e, f"flashing {node}") from None
        if node not in (result or {}).get("0", []):
            raise RunError(f"IoT-LAB: flashing {node} in experiment {exp_id} failed (result: {result})")
