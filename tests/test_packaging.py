"""The built wheel carries the templates and migrations, and digest finds them when installed."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_wheel_contains_templates_and_renders_from_them(tmp_path: Path) -> None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "-w",
            str(tmp_path),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
    )
    [wheel] = tmp_path.glob("digest-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for template in (ROOT / "templates").rglob("*.j2"):
        assert f"digest/templates/{template.relative_to(ROOT / 'templates')}" in names
    assert any(n.startswith("digest/store/migrations/versions/") for n in names)
    assert "digest/store/migrations/env.py" in names
    # The editor page's script and the vendored library it uses, with its licence.
    for static in (
        "editor.js",
        "editor-layout.js",
        "vendor/sortablejs/Sortable.min.js",
        "vendor/sortablejs/LICENSE",
    ):
        assert f"digest/web/static/{static}" in names

    installed = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(installed)
    code = (
        "from digest.render.templates import default_templates_dir as d; "
        "import digest; print(d()); print(digest.__file__)"
    )
    env = {**os.environ, "PYTHONPATH": str(installed)}
    output = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env=env,
        cwd=tmp_path,
    ).stdout.split()
    assert output[0] == str(installed / "digest" / "templates")
    assert output[1].startswith(str(installed))
