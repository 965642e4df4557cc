"""Ray for one sweep driver: an embedded instance of its own, or a cluster named with `--address`.

* No `--address`: `ray.init(address="local")` always starts a NEW Ray instance for this driver,
  whatever the machine holds: never the cluster `ray start` last recorded in
  `<tmp>/ray/ray_current_cluster` (a head killed without `ray stop` leaves that record behind, and a
  plain `ray.init()` would hang on it or, with a live head, silently run there), never
  `$RAY_ADDRESS`. Its node address is 127.0.0.1, so every port it opens (GCS, raylet, object
  manager, workers) listens on the loopback interface only.
* `--address HOST:PORT` (or `auto`: the recorded cluster) is the only way to join a cluster. The
  address is probed first: a TCP connect (one line within seconds when nothing listens there),
  then one call to the GCS. Ray 2.60's `ray start --head` turns token authentication on whenever
  the head machine has a token (`~/.ray/auth_token`, which any earlier `ray.init()` creates), but
  a driver joining an explicit address sends none unless `RAY_AUTH_MODE=token` (Ray then retries
  for ~20 s, one warning a second, and fails with a traceback). So when the cluster wants a token
  and this machine has one (`$RAY_AUTH_TOKEN`, `$RAY_AUTH_TOKEN_PATH` or `~/.ray/auth_token`), the
  driver sets `RAY_AUTH_MODE=token` for itself, and only then (a token-mode driver cannot start
  actors on a cluster without authentication); a cluster that wants a token this machine lacks,
  or another one, gets one line naming the fix.

This module and `harness.sweep` are the only Ray importers.
"""

from __future__ import annotations

import logging
import os
import socket
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from harness.errors import HarnessError

log = logging.getLogger(__name__)

AUTH_MODE_ENV = "RAY_AUTH_MODE"
TOKEN_ENV = "RAY_AUTH_TOKEN"
TOKEN_PATH_ENV = "RAY_AUTH_TOKEN_PATH"
DEFAULT_TOKEN_FILE = Path("~/.ray/auth_token")
# Ray reads this when it is imported: with 0 a node takes 127.0.0.1 as its address (as Ray does on
# macOS), and the GCS, raylet and workers bind to loopback only. Set for the embedded instance only.
_LOOPBACK_ENV = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"
TOKEN_FIX = (f"on the head run `ray get-auth-token` and give that token to this machine and every node "
             f"(`export {TOKEN_ENV}=<token>` or the file ~/.ray/auth_token) before `ray start` / the sweep, or "
             f"start every node with {AUTH_MODE_ENV}=disabled")


class RayStartError(HarnessError):
    """Ray could not be started or joined; the message is one line with the fix."""


def token_source() -> str | None:
    """Where this machine's Ray auth token comes from (the env var's or file's name), or None."""
    if os.environ.get(TOKEN_ENV):
        return f"${TOKEN_ENV}"
    path = os.environ.get(TOKEN_PATH_ENV)
    if path and Path(path).expanduser().is_file():
        return f"${TOKEN_PATH_ENV} ({path})"
    if DEFAULT_TOKEN_FILE.expanduser().is_file():
        return str(DEFAULT_TOKEN_FILE)
    return None


def recorded_cluster_file() -> Path:
    """The file where `ray start` records the machine's current cluster (what `auto` reads)."""
    base = os.environ.get("RAY_TMPDIR") or os.environ.get("TMPDIR") or "/tmp"
    return Path(base) / "ray" / "ray_current_cluster"


def _host_port(address: str) -> tuple[str, int]:
    """(host, port) of `address` ('auto' resolved through the recorded cluster file)."""
    if address == "auto":
        record = recorded_cluster_file()
        try:
            address = record.read_text().strip()
        except OSError:
            raise RayStartError(f"--address auto: no Ray cluster is recorded on this machine ({record} is absent); "
                                "start one with `ray start --head` or pass --address HOST:PORT") from None
    if address.startswith("ray://"):
        raise RayStartError(f"--address {address}: Ray Client addresses (ray://) are not supported; pass the "
                            "cluster's GCS address HOST:PORT (printed by `ray start --head`, default port 6379)")
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit():
        raise RayStartError(f"--address {address!r} is not HOST:PORT (e.g. 10.0.0.1:6379) or 'auto'")
    return host.strip("[]"), int(port)


def check_reachable(address: str, timeout_s: float = 5.0) -> None:
    """One line, fast, if nothing accepts connections at `address` (Ray itself retries for minutes)."""
    host, port = _host_port(address)
    recorded = " (the address recorded by `ray start` in " + str(recorded_cluster_file()) + ")" \
        if address == "auto" else ""
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return
    except OSError as exc:
        why = "connection timed out" if isinstance(exc, TimeoutError) else (exc.strerror or type(exc).__name__).lower()
        raise RayStartError(f"no Ray cluster at {host}:{port}{recorded}: {why}; start the head with "
                            f"`ray start --head --port={port}` or pass the address it printed") from None


@contextmanager
def _stderr_captured() -> Iterator[list[str]]:
    """Send this process's fd 2 to a temporary file for the block: Ray's C++ client repeats each
    connection failure every second there, and the user gets our one line instead. Yields a list
    that holds the captured text after the block."""
    fd, name = tempfile.mkstemp(prefix="freedarts-ray-", suffix=".log")
    saved = os.dup(2)
    captured: list[str] = []
    try:
        os.dup2(fd, 2)
        yield captured
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(fd)
        captured.append(Path(name).read_text(errors="replace"))
        Path(name).unlink(missing_ok=True)


def _init_kwargs() -> dict:
    return dict(log_to_driver=False, logging_level=logging.ERROR, configure_logging=True)


def _no_crash_handler_in_driver() -> None:
    """Make the driver's core worker without Ray's C++ crash handler. That handler also takes SIGTERM
    (behind Python's back: `signal.getsignal` does not see it), so a SIGTERM during `ray.init` printed a
    C++ stack ("*** SIGTERM received ...") and killed the driver with SIGABRT (measured). Ray reads this
    switch, `RAY_DISABLE_FAILURE_SIGNAL_HANDLER` (documented for JVM users), into `ray_constants` when it
    is imported and looks the constant up when it makes the core worker. Setting the constant, not the
    variable, keeps it out of the environment of the processes the driver starts: the raylet and the
    workers keep their crash handler. The CLIs enable `faulthandler` for the driver's own crashes."""
    from ray._private import ray_constants

    ray_constants.RAY_DISABLE_FAILURE_SIGNAL_HANDLER = True


def start_local() -> None:
    """An embedded Ray instance of this driver's own, listening on 127.0.0.1 only."""
    os.environ[_LOOPBACK_ENV] = "0"
    import ray

    if ray.is_initialized():
        return
    _no_crash_handler_in_driver()
    try:
        ray.init(address="local", include_dashboard=False, **_init_kwargs())
    except Exception as exc:  # noqa: BLE001  (Ray's start-up errors vary; the user needs one line)
        raise RayStartError(f"could not start an embedded Ray instance: {_last_line(str(exc))}") from None


def start_local_head() -> str:
    """`start_local`, then the address other drivers on this machine join it at (`--address`): one
    embedded Ray for several sweep drivers in a row (`harness.reproduce`); `shutdown` stops it."""
    start_local()
    import ray

    return ray.get_runtime_context().gcs_address


def _gcs_answer(host: str, port: int) -> str:
    """One call to the GCS at host:port, in well under a second: "ok", "unauthenticated" (it wants a
    token, or not the one this process sends) or "unknown" (anything else: `ray.init` then tries and
    its error is explained). Uses the client `ray.init` itself makes first."""
    try:
        from ray._raylet import GcsClient
    except ImportError:
        return "unknown"
    text = ""
    with _stderr_captured():  # the C++ client logs each failure
        try:
            GcsClient(address=f"{host}:{port}", cluster_id=None)
            return "ok"
        except Exception as exc:  # noqa: BLE001  (AuthenticationError, ConnectionError, RpcError, ...)
            text = f"{type(exc).__name__}: {exc}"
    return "unauthenticated" if _is_auth_error(text) else "unknown"


def _is_auth_error(text: str) -> bool:
    return any(k in text for k in ("InvalidAuthToken", "Unauthenticated", "AuthenticationError"))


def _enable_token_mode() -> None:
    """RAY_AUTH_MODE=token for this process, after Ray has read its config (the probe did): Ray's own
    helper for a new local cluster does the same two steps."""
    os.environ[AUTH_MODE_ENV] = "token"
    from ray._raylet import Config

    Config.initialize("")


def join(address: str) -> None:
    """Connect this driver to the cluster at `address` (see the module docstring)."""
    check_reachable(address)
    host, port = _host_port(address)
    source = token_source()
    if _gcs_answer(host, port) == "unauthenticated":
        if source is None or os.environ.get(AUTH_MODE_ENV, "").lower() == "token":
            raise RayStartError(_explain(f"{host}:{port}", "InvalidAuthToken", source))
        # The cluster wants a token and this machine has one: send it. Only then: a driver in token
        # mode on a cluster without authentication cannot start actors (measured, Ray 2.60).
        _enable_token_mode()
        if _gcs_answer(host, port) == "unauthenticated":
            raise RayStartError(_explain(f"{host}:{port}", "InvalidAuthToken", source))
    import ray

    if ray.is_initialized():
        return
    _no_crash_handler_in_driver()
    chain = ""
    with _stderr_captured() as captured:
        try:
            ray.init(address=f"{host}:{port}", **_init_kwargs())
        except Exception as exc:  # noqa: BLE001  (Ray's connection errors vary; the user needs one line)
            chain = " ".join(str(e) for e in _chain(exc))
    if chain:
        raise RayStartError(_explain(f"{host}:{port}", chain + " " + "".join(captured), source)) from None


def _chain(exc: BaseException) -> list[BaseException]:
    out = []
    while exc is not None and len(out) < 5:
        out.append(exc)
        exc = exc.__cause__ or exc.__context__
    return out


def _last_line(text: str) -> str:
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    return " ".join((lines[-1] if lines else text).split())[:300]


def _explain(address: str, text: str, token: str | None) -> str:
    if _is_auth_error(text) or "authentication" in text.lower():
        if token:
            return (f"the Ray cluster at {address} rejected this machine's auth token (from {token}): the cluster "
                    f"was started with another one; fix: {TOKEN_FIX}")
        return (f"the Ray cluster at {address} requires token authentication (Ray 2.60 `ray start --head` enables "
                f"it) and this machine has no token; fix: {TOKEN_FIX}")
    return f"could not join the Ray cluster at {address}: {_last_line(text)}"


def shutdown() -> None:
    """Stop this driver's Ray (the embedded instance, or the connection to a cluster)."""
    import sys

    ray = sys.modules.get("ray")
    if ray is not None:  # also after an interrupted ray.init: it stops the processes it had started
        ray.shutdown()
