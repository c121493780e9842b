"""A real Spark standalone cluster on loopback: one master, N workers, started through
the `spark-class` script the pyspark package ships, and stopped with the test."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pyspark

SPARK_HOME = Path(pyspark.__file__).resolve().parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class StandaloneCluster:
    """Start with `with StandaloneCluster(workdir, workers=2) as cluster: cluster.url`."""

    def __init__(self, workdir: Path, workers: int = 2, cores: int = 1, memory: str = "1g"):
        self.workdir = Path(workdir)
        self.n_workers = workers
        self.cores = cores
        self.memory = memory
        self.port = free_port()
        self.ui_port = free_port()
        self.master: subprocess.Popen | None = None
        self.workers: list[subprocess.Popen] = []

    @property
    def url(self) -> str:
        return f"spark://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(SPARK_HOME=str(SPARK_HOME), SPARK_LOCAL_IP="127.0.0.1", PYSPARK_PYTHON=sys.executable,
                   PYSPARK_DRIVER_PYTHON=sys.executable, SPARK_LOG_DIR=str(self.workdir / "logs"),
                   SPARK_WORKER_DIR=str(self.workdir / "work"), SPARK_NO_DAEMONIZE="1")
        return env

    def _spawn(self, name: str, *args: str) -> subprocess.Popen:
        log = open(self.workdir / f"{name}.log", "wb")
        return subprocess.Popen([str(SPARK_HOME / "bin" / "spark-class"), *args], env=self.env(),
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)

    def __enter__(self) -> "StandaloneCluster":
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.master = self._spawn("master", "org.apache.spark.deploy.master.Master", "--host", "127.0.0.1",
                                  "--port", str(self.port), "--webui-port", str(self.ui_port))
        for i in range(self.n_workers):
            self.start_worker(i)
        self.wait_for_workers(self.n_workers)
        return self

    def start_worker(self, i: int) -> subprocess.Popen:
        worker = self._spawn(f"worker{i}", "org.apache.spark.deploy.worker.Worker", self.url, "--host", "127.0.0.1",
                             "--cores", str(self.cores), "--memory", self.memory,
                             "--webui-port", str(free_port()), "--work-dir", str(self.workdir / f"work{i}"))
        self.workers.append(worker)
        return worker

    def alive_workers(self) -> int:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.ui_port}/json/", timeout=5) as reply:
            state = json.load(reply)
        return sum(1 for w in state.get("workers", []) if w.get("state") == "ALIVE")

    def wait_for_workers(self, n: int, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if self.alive_workers() >= n:
                    return
            except OSError:
                pass
            time.sleep(1)
        raise RuntimeError(f"standalone cluster did not get {n} workers in {timeout}s; see {self.workdir}/*.log")

    def kill_worker(self, i: int) -> None:
        """Kill a worker and its executors (the whole process group), as a lost machine would."""
        os.killpg(self.workers[i].pid, signal.SIGKILL)

    def command(self, script: Path, *args: str, conf: dict[str, str] | None = None) -> list[str]:
        command = [str(SPARK_HOME / "bin" / "spark-submit"), "--master", self.url,
                   "--conf", "spark.ui.enabled=false", "--conf", "spark.executor.memory=768m"]
        for key, value in (conf or {}).items():
            command += ["--conf", f"{key}={value}"]
        return [*command, str(script), *args]

    def submit(self, script: Path, *args: str, conf: dict[str, str] | None = None,
               timeout: float = 600) -> subprocess.CompletedProcess:
        """Run a job to completion; its output is captured."""
        return subprocess.run(self.command(script, *args, conf=conf), env=self.env(), capture_output=True,
                              text=True, timeout=timeout)

    def launch(self, script: Path, *args: str, conf: dict[str, str] | None = None) -> subprocess.Popen:
        """Start a job and return at once; its stdout and stderr arrive merged on `.stdout`."""
        return subprocess.Popen(self.command(script, *args, conf=conf), env=self.env(), stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)

    def __exit__(self, *exc) -> None:
        for proc in [*self.workers, self.master]:
            if proc and proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                proc.wait(timeout=30)
