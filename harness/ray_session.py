"""Ray for one sweep driver: an embedded instance of its own, or a cluster named with `--address`.

* No `--address`: `ray.init(address="local")` always starts a NEW Ray instance for this driver,
  whatever the machine holds: never the cluster `ray start` last recorded in
  `<tmp>/ray/ray_current_cluster` (a head killed without `ray stop` leaves that record behind, and a
  plain `ray.init()` would hang on it or, with a live head, silently run there), never
  `$RAY_ADDRESS`. Its node address is 127.0.0.1, so every port it opens (GCS, raylet, object
  manager, workers) listens on the loopback interface only.
* `--address HOST:PORT` (or `auto`: the recorded cluster) is the only way to join a cluster. The
  address is probed first (one line within seconds when nothing listens there), and token
  authentication is handled: Ray 2.60's `ray start --head` turns it on whenever the head machine
  has a token (`~/.ray/auth_token`, which any earlier `ray.init()` creates), but a driver joining
  an explicit address does not send its token unless `RAY_AUTH_MODE=token`. So when this machine
  has a token (`$RAY_AUTH_TOKEN`, `$RAY_AUTH_TOKEN_PATH` or `~/.ray/auth_token`) the driver sets
  `RAY_AUTH_MODE=token` for itself; a cluster that still refuses it gets one line naming the fix.

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
def _stderr_captured() -> Iterator[Path]:
    """Send this process's fd 2 to a file: Ray's C++ client repeats each connection failure every
    second there, and the user gets our one line instead."""
    fd, name = tempfile.mkstemp(prefix="freedarts-ray-", suffix=".log")
    saved = os.dup(2)
    try:
        os.dup2(fd, 2)
        yield Path(name)
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(fd)


def _init_kwargs() -> dict:
    return dict(log_to_driver=False, logging_level=logging.ERROR, configure_logging=True)


def start_local() -> None:
    """An embedded Ray instance of this driver's own, listening on 127.0.0.1 only."""
    os.environ[_LOOPBACK_ENV] = "0"
    import ray

    if ray.is_initialized():
        return
    try:
        ray.init(address="local", include_dashboard=False, **_init_kwargs())
    except Exception as exc:  # noqa: BLE001  (Ray's start-up errors vary; the user needs one line)
        raise RayStartError(f"could not start an embedded Ray instance: {_last_line(str(exc))}") from None


def join(address: str) -> None:
    """Connect this driver to the cluster at `address` (see the module docstring)."""
    check_reachable(address)
    host, port = _host_port(address)
    token = token_source()
    if token and os.environ.get(AUTH_MODE_ENV) is None:
        os.environ[AUTH_MODE_ENV] = "token"  # the cluster may want it; one that does not ignores it
    import ray

    if ray.is_initialized():
        return
    with _stderr_captured() as captured:
        try:
            ray.init(address=f"{host}:{port}", **_init_kwargs())
            return
        except Exception as exc:  # noqa: BLE001
            chain = " ".join(str(e) for e in _chain(exc))
    noise = captured.read_text(errors="replace")
    captured.unlink(missing_ok=True)
    raise RayStartError(_explain(f"{host}:{port}", chain + " " + noise, token)) from None


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
    if "InvalidAuthToken" in text or "Unauthenticated" in text or "authentication" in text.lower():
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
