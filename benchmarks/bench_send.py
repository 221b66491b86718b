"""Subscribers at scale: import and send 1,000,000 subscribers through the local SendGrid server.

Run: .venv/bin/python benchmarks/bench_send.py [COUNT] [--postgres URL [--only-postgres]]
(default 1,000,000 readers; needs ../shared)

Prints the import time, the send time through the local SendGrid server (tests/servers), the
recipients per second, each step's peak memory (RSS of the digest process), and beside them the
floor measured in the same run: the same server receiving 1000 bodies of 1000 personalizations,
built beforehand by digest's own payload builder, from the `sendgrid` client (and a second floor
with minimal personalizations). Then the personalised run: the same readers, each following one
of 8 topic sets (the CSV's `topics` column), sent a second newsletter's edition of the same
articles, one copy per topic set; its time is printed beside the plain send's. Targets on the
2-core machine: send within 1.5x of the floor, the personalised send within 1.3x of the plain
one, import under 30 s, peak RSS of the send under 150 MB (of the import under 300 MB). The
machine is shared: the load average at the start and the end is printed with the figures.

With `--postgres URL` (a server where that user may create databases), the PostgreSQL part
runs too (`--only-postgres`: it alone): in a database of its own, made and dropped, the same
readers imported, then one edition sent by one worker and another by `--workers 2`, each time
with its ratio to the floor and the two workers' ratio to one's (postgres_part and the
functions after main are that part's own).
"""

from __future__ import annotations

import json
import os
import resource
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

from sendgrid import SendGridAPIClient

ROOT = Path(__file__).resolve().parent.parent
DIGEST = str(Path(sys.executable).parent / "digest")
KEY = "SG.benchmark-key"
NEWSLETTER = """
[newsletters.{name}]
title = "{title}"
theme = "Russia's war in Ukraine and its allies"
from_name = "Benchmark Brief"
from_address = "brief@example.org"
postal_address = "1 Test Street, Testville"
base_url = "https://brief.example.org"
lists = ["everyone"]
sender = "sendgrid"
"""
# The plain newsletter, a second one like it (the plain send after the personalised one), and
# the personalised one, all to the same list.
CONFIG = (
    NEWSLETTER.format(name="bench", title="Benchmark Brief")
    + NEWSLETTER.format(name="again", title="Benchmark Brief, again")
    + NEWSLETTER.format(name="personal", title="Benchmark Brief, your topics")
    + """
[newsletters.personal.topics]
drones = { label = "Drones", query = ["drone", "drones"] }
sanctions = { label = "Sanctions", query = ["sanctions"] }
korea = { label = "North Korea", query = ["North Korea", "Pyongyang"] }
shipping = { label = "Shipping", query = ["Black Sea", "shipping", "fleet"] }
"""
)
# Eight topic sets, one per reader in turn ("" follows every topic).
TOPIC_SETS = (
    "",
    "drones",
    "sanctions",
    "korea",
    "shipping",
    "drones;sanctions",
    "korea;shipping",
    "drones;korea",
)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def write_csv(path: Path, count: int) -> None:
    with path.open("w", encoding="utf-8") as file:
        file.write("email,name,city,topics\n")
        for n in range(count):
            # One row in a thousand is broken, as real lists are.
            address = f"reader{n}@example.org" if n % 1000 != 999 else f"broken{n}@"
            file.write(f"{address},Reader {n},City {n % 97},{TOPIC_SETS[n % 8]}\n")


def timed(command: list[str], env: dict[str, str], cwd: Path) -> tuple[float, float, str]:
    """(seconds, peak RSS in MB of the command's largest process, stdout)."""
    script = (
        "import resource, subprocess, sys, time\n"
        "start = time.perf_counter()\n"
        "done = subprocess.run(sys.argv[1:], capture_output=True, text=True)\n"
        "took = time.perf_counter() - start\n"
        "peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024\n"
        "print(took, peak); print(done.stdout); print(done.stderr, file=sys.stderr)\n"
        "sys.exit(done.returncode)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script, *command],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{result.stdout}\n{result.stderr}")
    first, _, rest = result.stdout.partition("\n")
    seconds, peak = (float(x) for x in first.split())
    return seconds, peak, rest


def stats(host: str) -> dict[str, int]:
    with urllib.request.urlopen(f"{host}/_stats") as response:
        data: dict[str, int] = json.load(response)
    return data


def minimal_floor(host: str) -> float:
    """The same server and client, 1000 requests of 1000 minimal personalizations (an address,
    two substitutions, one header, one custom argument): the floor of the wire alone."""
    client = SendGridAPIClient(api_key=KEY, host=host)
    bodies = [
        {
            "from": {"email": "brief@example.org", "name": "Benchmark Brief"},
            "subject": "Floor",
            "content": [
                {"type": "text/plain", "value": "x" * 5000},
                {"type": "text/html", "value": "<p>Body of the edition.</p>" * 1500},
            ],
            "personalizations": [
                {
                    "to": [{"email": f"min{request}-{n}@example.org"}],
                    "substitutions": {
                        "%%name%%": f"Reader {n}",
                        "%%unsubscribe_url%%": f"https://brief.example.org/u/{n}",
                    },
                    "headers": {"List-Unsubscribe": f"<https://brief.example.org/u/{n}>"},
                    "custom_args": {"subscriber_id": str(n)},
                }
                for n in range(1000)
            ],
        }
        for request in range(10)
    ]
    start = time.perf_counter()
    for request in range(1000):
        client.client.mail.send.post(request_body=bodies[request % 10])
    return time.perf_counter() - start


def floor(host: str) -> float:
    """The same server, 1000 requests of 1000 personalizations each, the bodies built
    beforehand by digest's own payload builder (so they have exactly the shape of a real
    send's), posted by the `sendgrid` client."""
    from digest.render import RenderedEmail
    from digest.send import Batch, Recipient
    from digest.send.sendgrid_payload import build_payload
    from tests.conftest import make_newsletter

    newsletter = make_newsletter(name="bench")
    html = "<p>Body of the edition.</p>" * 1500  # about the size of a rendered edition
    email = RenderedEmail(subject="Floor", preheader="", html=html, text="x" * 5000, mjml="")
    bodies = [
        build_payload(
            Batch(
                edition_id=1,
                newsletter=newsletter,
                email=email,
                recipients=[
                    Recipient(
                        request * 1000 + n,
                        request * 1000 + n,
                        f"floor{request}-{n}@example.org",
                        f"Reader {n}",
                        f"https://brief.example.org/unsubscribe/1.{n}.1.{'x' * 22}",
                    )
                    for n in range(1000)
                ],
            )
        )
        for request in range(10)
    ]
    client = SendGridAPIClient(api_key=KEY, host=host)
    start = time.perf_counter()
    for request in range(1000):
        client.client.mail.send.post(request_body=bodies[request % 10])
    return time.perf_counter() - start


def postgres_database(admin_url: str) -> tuple[str, Callable[[], None]]:
    """A new database on the server of `admin_url`, and the function that drops it."""
    import uuid

    import psycopg

    name = f"digest_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')

    def drop() -> None:
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    return f"{admin_url.rsplit('/', 1)[0]}/{name}", drop


def postgres_part(
    admin_url: str, count: int, host: str, env: dict[str, str], work: Path, csv_path: Path
) -> list[str]:
    """The PostgreSQL send: one worker, then two (`--workers 2`), each a newsletter's edition
    of the same articles to the same readers. Returns the lines to print."""
    url, drop = postgres_database(admin_url)
    env = {**env, "DIGEST_DATABASE_URL": url}
    try:
        import_seconds, _, _ = timed(
            [DIGEST, "subscribers", "import", str(csv_path), "--list", "everyone"], env, work
        )
        subprocess.run(
            [DIGEST, "add", str(ROOT / "examples" / "articles")],
            env=env,
            cwd=work,
            check=True,
            capture_output=True,
        )
        figures = []
        for name, workers in (("bench", 1), ("again", 2)):
            for step in (["build", "--newsletter", name], ["approve", "latest"]):
                subprocess.run([DIGEST, *step], env=env, cwd=work, check=True, capture_output=True)
            before = stats(host)
            seconds, peak, out = timed(
                [DIGEST, "send", "latest", "--yes", "--workers", str(workers)], env, work
            )
            sent = stats(host)["taken"] - before["taken"]
            figures.append((workers, seconds, peak, sent, out.strip()))
    finally:
        drop()
    floor_seconds = floor(host) * count / 1_000_000
    lines = [
        f"postgresql: import {import_seconds:.1f} s; floor for {count:,} readers "
        f"(scaled from 1000 requests): {floor_seconds:.1f} s"
    ]
    one = figures[0][1]
    for workers, seconds, peak, sent, out in figures:
        lines.append(
            f"postgresql send, {workers} worker{'s' if workers > 1 else ''}: {seconds:.1f} s, "
            f"{sent / seconds:,.0f} recipients/s, send / floor {seconds / floor_seconds:.2f}x, "
            f"to one worker's {seconds / one:.2f}x, peak RSS {peak:.0f} MB ({out})"
        )
    return lines


def main() -> None:
    arguments = sys.argv[1:]
    postgres = ""
    if "--postgres" in arguments:
        at = arguments.index("--postgres")
        postgres = arguments[at + 1]
        del arguments[at : at + 2]
    only_postgres = "--only-postgres" in arguments
    arguments = [a for a in arguments if a != "--only-postgres"]
    count = int(arguments[0]) if arguments else 1_000_000
    load_before = os.getloadavg()[0]
    if only_postgres:
        if not postgres:
            raise SystemExit("--only-postgres needs --postgres URL")
        run_postgres_only(postgres, count)
        return
    port = free_port()
    host = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [sys.executable, "-m", "tests.servers.sendgrid", str(port), KEY], cwd=ROOT
    )
    try:
        for _ in range(100):
            try:
                stats(host)
                break
            except OSError:
                time.sleep(0.1)
        with tempfile.TemporaryDirectory(prefix="digest-bench-") as folder:
            work = Path(folder)
            (work / "digest.toml").write_text(CONFIG, encoding="utf-8")
            env = {k: v for k, v in os.environ.items() if not k.startswith("DIGEST_")}
            env.update(
                {
                    "DIGEST_CONFIG": str(work / "digest.toml"),
                    "DIGEST_SECRET_KEY": "benchmark-secret-0123456789",
                    "DIGEST_SENDGRID_HOST": host,
                    "SENDGRID_API_KEY": KEY,
                    # The readers are at example.org, which has no DNS: the check before a
                    # first send (digest doctor) would refuse it.
                    "DIGEST_FIRST_SEND_CHECK": "false",
                }
            )
            csv_path = work / "everyone.csv"
            write_csv(csv_path, count)
            import_seconds, import_peak, import_out = timed(
                [DIGEST, "subscribers", "import", str(csv_path), "--list", "everyone"], env, work
            )
            subprocess.run(
                [DIGEST, "add", str(ROOT / "examples" / "articles")],
                env=env,
                cwd=work,
                check=True,
                capture_output=True,
            )
            subprocess.run(
                [DIGEST, "build", "--newsletter", "bench"],
                env=env,
                cwd=work,
                check=True,
                capture_output=True,
            )
            subprocess.run(
                [DIGEST, "approve", "latest"], env=env, cwd=work, check=True, capture_output=True
            )
            send_seconds, send_peak, send_out = timed(
                [DIGEST, "send", "latest", "--yes"], env, work
            )
            after_send = stats(host)
            for step in (["build", "--newsletter", "personal"], ["approve", "latest"]):
                subprocess.run([DIGEST, *step], env=env, cwd=work, check=True, capture_output=True)
            personal_seconds, personal_peak, personal_out = timed(
                [DIGEST, "send", "latest", "--yes"], env, work
            )
            after_personal = stats(host)
            # The plain send again (a third newsletter's edition of the same articles), after
            # it: the store is larger by then, so the plain time
            # beside the personalised one is the mean of the sends before and after it.
            for step in (["build", "--newsletter", "again"], ["approve", "latest"]):
                subprocess.run([DIGEST, *step], env=env, cwd=work, check=True, capture_output=True)
            again_seconds, _, _ = timed([DIGEST, "send", "latest", "--yes"], env, work)
            after_again = stats(host)
            floor_seconds = floor(host)
            minimal_seconds = minimal_floor(host)
            postgres_lines = (
                postgres_part(postgres, count, host, env, work, csv_path) if postgres else []
            )
        print(f"subscribers: {count:,} ({import_out.strip()})")
        print(
            f"import: {import_seconds:.1f} s, {count / import_seconds:,.0f} rows/s, "
            f"peak RSS {import_peak:.0f} MB"
        )
        print(
            f"send: {send_seconds:.1f} s, {after_send['recipients'] / send_seconds:,.0f} "
            f"recipients/s, peak RSS {send_peak:.0f} MB ({send_out.strip()})"
        )
        print(
            f"server: {after_send['accepted_requests']} requests accepted, "
            f"{after_send['recipients']:,} recipients, {after_send['duplicates']} duplicates"
        )
        personal_recipients = after_personal["taken"] - after_send["taken"]
        plain_mean = (send_seconds + again_seconds) / 2
        print(
            f"personalised send (8 topic sets): {personal_seconds:.1f} s, "
            f"{personal_recipients / personal_seconds:,.0f} recipients/s, peak RSS "
            f"{personal_peak:.0f} MB ({personal_out.strip()})"
        )
        print(
            f"plain send again after it: {again_seconds:.1f} s; personalised / plain (mean of "
            f"the two plain sends, {plain_mean:.1f} s): {personal_seconds / plain_mean:.2f}x "
            f"(to the one before: {personal_seconds / send_seconds:.2f}x, after: "
            f"{personal_seconds / again_seconds:.2f}x); "
            f"readers sent one edition twice over the three sends: "
            f"{after_again['edition_duplicates']}"
        )
        scale = 1_000_000 / count
        print(
            f"floor (1000 prebuilt bodies x 1000 personalizations, digest's shape): "
            f"{floor_seconds:.1f} s; send / floor: {send_seconds * scale / floor_seconds:.2f}x"
        )
        print(
            f"minimal floor (1000 x 1000 minimal personalizations): {minimal_seconds:.1f} s; "
            f"send / minimal floor: {send_seconds * scale / minimal_seconds:.2f}x"
        )
        for line in postgres_lines:
            print(line)
        own_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"this process: peak RSS {own_peak:.0f} MB")
        print(
            f"load average (1 min): {load_before:.1f} at the start, "
            f"{os.getloadavg()[0]:.1f} at the end"
        )
    finally:
        server.terminate()
        server.wait()


def run_postgres_only(admin_url: str, count: int) -> None:
    """`--only-postgres`: the PostgreSQL part alone (its own server, readers and floor)."""
    port = free_port()
    host = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [sys.executable, "-m", "tests.servers.sendgrid", str(port), KEY], cwd=ROOT
    )
    try:
        for _ in range(100):
            try:
                stats(host)
                break
            except OSError:
                time.sleep(0.1)
        with tempfile.TemporaryDirectory(prefix="digest-bench-") as folder:
            work = Path(folder)
            (work / "digest.toml").write_text(CONFIG, encoding="utf-8")
            env = {k: v for k, v in os.environ.items() if not k.startswith("DIGEST_")}
            env.update(
                {
                    "DIGEST_CONFIG": str(work / "digest.toml"),
                    "DIGEST_SECRET_KEY": "benchmark-secret-0123456789",
                    "DIGEST_SENDGRID_HOST": host,
                    "SENDGRID_API_KEY": KEY,
                    # The readers are at example.org, which has no DNS: the check before a
                    # first send (digest doctor) would refuse it.
                    "DIGEST_FIRST_SEND_CHECK": "false",
                }
            )
            csv_path = work / "everyone.csv"
            write_csv(csv_path, count)
            lines = postgres_part(admin_url, count, host, env, work, csv_path)
        print(f"subscribers: {count:,}")
        for line in lines:
            print(line)
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    main()
