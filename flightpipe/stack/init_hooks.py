"""LocalStack's READY init hooks, run by the stack once it serves.

LocalStack runs the scripts in ``/etc/localstack/init/ready.d/`` when it is ready to serve, in
alphanumerical order (a failed one does not stop the next), and reports them at
``GET /_localstack/init/ready`` as ``{"completed": ..., "scripts": [{"stage": "READY", "name":
..., "state": "UNKNOWN" | "RUNNING" | "SUCCESSFUL" | "ERROR"}]}`` (docs.localstack.cloud,
references/init-hooks). The stack's container does the same with the project's hooks
(``localstack/init/ready.d/``), so the same folder provisions the pipeline on either endpoint,
and a health check written for LocalStack works against the stack. Shell scripts must be
executable; ``.py`` files run with this process's interpreter (LocalStack runs them inside its
own). A hook finds the endpoint in ``AWS_ENDPOINT_URL``; the provisioning hook writes what it
provisioned to ``FLIGHTPIPE_PROVISIONED_FILE``, which the stack serves at
``GET /_flightpipe/provisioned`` for ``flightpipe compose up`` to write ``.local/stack.env``.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

log = logging.getLogger("flightpipe.stack.init")

INIT_READY_PATH = "/_localstack/init/ready"
PROVISIONED_PATH = "/_flightpipe/provisioned"
SCRIPT_SUFFIXES = (".sh", ".py")


class InitHooks:
    """The READY stage's scripts under ``init_dir/ready.d`` and their states."""

    def __init__(self, init_dir: Path | None, port: int):
        self.port = port
        folder = init_dir / "ready.d" if init_dir else None
        self.scripts = (
            sorted(
                (p for p in folder.rglob("*") if p.is_file() and p.suffix in SCRIPT_SUFFIXES),
                key=lambda p: (len(p.relative_to(folder).parts), str(p.relative_to(folder))),
            )
            if folder and folder.is_dir()
            else []
        )
        self.states = {script: "UNKNOWN" for script in self.scripts}
        self.completed = not self.scripts
        state_dir = Path(os.environ.get("FLIGHTPIPE_STATE_DIR", "/var/lib/flightpipe"))
        self.provisioned_file = Path(
            os.environ.get("FLIGHTPIPE_PROVISIONED_FILE", str(state_dir / "provisioned.json"))
        )

    @property
    def state(self) -> str:
        """``none``, ``running``, ``ready`` or ``failed: <scripts>`` (the health answer)."""
        if not self.scripts:
            return "none"
        if not self.completed:
            return "running"
        failed = [s.name for s, state in self.states.items() if state == "ERROR"]
        return f"failed: {', '.join(failed)}" if failed else "ready"

    def localstack_answer(self) -> dict[str, Any]:
        return {
            "completed": self.completed,
            "scripts": [
                {"stage": "READY", "name": script.name, "state": state}
                for script, state in self.states.items()
            ],
        }

    def start(self) -> None:
        if self.scripts:
            threading.Thread(target=self.run, name="init-hooks", daemon=True).start()

    def run(self) -> None:
        env = {
            **os.environ,
            "AWS_ENDPOINT_URL": f"http://127.0.0.1:{self.port}",
            "FLIGHTPIPE_PROVISIONED_FILE": str(self.provisioned_file),
        }
        for script in self.scripts:
            self.states[script] = "RUNNING"
            command = [sys.executable, str(script)] if script.suffix == ".py" else [str(script)]
            log.info("init hook %s: running", script.name)
            try:
                result = subprocess.run(
                    command,
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                    text=True,
                    check=False,
                )
                output, code = result.stdout, result.returncode
            except OSError as error:  # not executable, no shebang
                output, code = str(error), 126
            for line in output.splitlines():
                log.info("init hook %s: %s", script.name, line)
            self.states[script] = "SUCCESSFUL" if code == 0 else "ERROR"
            if code != 0:
                log.error("init hook %s failed with exit code %d", script.name, code)
        self.completed = True
        log.info("init hooks: %s", self.state)
