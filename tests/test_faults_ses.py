"""The fault suite for SES: `digest send` (sender = "ses", moto behind the fault proxy) killed
(SIGKILL) at every recorded step and at random moments, on SQLite and PostgreSQL, then run
again until done. Copies per address are counted from what SES took:

- with SES's events arriving (Send, through a signed SNS post to `digest serve`), 0 misses and
  0 duplicates under either unknown-batch policy;
- with no events and the `skip` policy, at most one miss per kill, each reported unknown.

`FAULT_FIGURES=path` appends one JSON line per scenario, as tests/test_faults.py does.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import httpx
from cryptography.hazmat.primitives.asymmetric import rsa

from digest.config import load_settings
from digest.store.deliveries import DeliveryStatus
from tests.conftest import environment
from tests.servers.ses import SesState, running_ses, ses_environment
from tests.sns_support import (
    TOPIC,
    CertHost,
    notification,
    serving_https,
    ses_event,
    signing_certificate,
)
from tests.test_faults import (
    EACH_POLICY_ON_ONE_DATABASE,
    _finish,
    _kill_runs,
    _ledger,
    _plan,
    _record,
    _setup,
    _tally,
)
from tests.web_support import serving

READERS = 40  # one SendEmail request (and one ledger batch) each


def _post_send_events(
    env: dict[str, str], state: SesState, key: rsa.RSAPrivateKey, sns: CertHost
) -> None:
    """SES's Send event for every message it took, through digest's own endpoint, signed as
    SNS signs them."""
    with environment(env):
        settings = load_settings()
    with serving(settings) as base, httpx.Client(base_url=base, timeout=60) as client:
        for body in state.taken:
            address = body["Destination"]["ToAddresses"][0]
            tags = {tag["Name"]: tag["Value"] for tag in body["EmailTags"]}
            message = notification(key, ses_event("Send", address, tags), sns.cert_url)
            answer = client.post("/webhooks/ses", content=json.dumps(message))
            assert answer.status_code == 200, answer.text


@EACH_POLICY_ON_ONE_DATABASE
def test_ses_settles_cut_off_batches_from_its_events(
    database_url: str, tmp_path: Path, unknown_policy: str
) -> None:
    key, certificate = signing_certificate()
    with running_ses() as (url, state), serving_https(tmp_path, certificate) as sns:
        env, edition_id = _setup(
            tmp_path,
            database_url,
            "ses",
            READERS,
            **ses_environment(url),
            DIGEST_SES__SNS_TOPIC_ARNS=json.dumps([TOPIC]),
            DIGEST_SES__SNS_HOSTS=re.escape(sns.authority),
            DIGEST_SES__SNS_CA_FILE=str(sns.ca_file),
            DIGEST_UNKNOWN_BATCH_POLICY=unknown_policy,
        )
        # Slow answers now and then, so that kills from outside land while a request is in
        # flight, after SES took it.
        state.faults.extend(["slow"] * 8)
        kills = _kill_runs(env, edition_id, tmp_path, _plan(5, 10, 3, 2.0))
        state.faults.clear()
        _post_send_events(env, state, key, sns)
        _finish(env, edition_id, tmp_path, DIGEST_UNKNOWN_SETTLE_WAIT="PT0S")
        copies = Counter(state.recipients())
    tally = _tally(copies, READERS, kills)
    _record(f"ses {unknown_policy} {database_url.split(':')[0]}", tally)
    assert kills >= 3
    assert tally.duplicates == 0 and tally.misses == 0
    ledger, status = _ledger(env, edition_id)
    assert status == "sent" and ledger[DeliveryStatus.UNKNOWN] == 0
    assert ledger["sent"] == READERS


def test_ses_without_events_loses_at_most_one_reader_per_kill_and_reports_it(
    database_url: str, tmp_path: Path
) -> None:
    with running_ses() as (url, state):
        env, edition_id = _setup(
            tmp_path,
            database_url,
            "ses",
            READERS,
            **ses_environment(url),
            DIGEST_UNKNOWN_BATCH_POLICY="skip",
        )
        state.faults.extend(["slow"] * 8)
        kills = _kill_runs(env, edition_id, tmp_path, _plan(9, 10, 3, 2.0))
        state.faults.clear()
        _finish(env, edition_id, tmp_path, DIGEST_UNKNOWN_SETTLE_WAIT="PT0S")
        copies = Counter(state.recipients())
    tally = _tally(copies, READERS, kills)
    _record(f"ses skip, no events {database_url.split(':')[0]}", tally)
    assert kills >= 3
    ledger, status = _ledger(env, edition_id)
    assert status == "sent"
    assert tally.duplicates == 0 and tally.misses <= kills
    assert tally.misses <= ledger["unknown"] <= kills
