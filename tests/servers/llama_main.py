"""`python tests/servers/llama_main.py ARGS…` runs llama.cpp's server (`python -m llama_cpp.server
ARGS…`) with the CPU backend's repacked weight layouts ("extra buffer types") turned off.

Why: on this machine's CPU (AVX-512 and AMX advertised) the first decode with the repacked
layouts dies with a general protection fault in libggml-cpu, while the plain layouts work.
The server has no option for it, so the default model parameters are changed before it starts.
"""

from __future__ import annotations

import runpy

import llama_cpp.llama_cpp as native


def main() -> None:
    default = native.llama_model_default_params

    def plain_layouts() -> native.llama_model_params:
        params: native.llama_model_params = default()
        params.use_extra_bufts = False
        return params

    setattr(native, "llama_model_default_params", plain_layouts)  # noqa: B010 - a patch
    runpy.run_module("llama_cpp.server", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
