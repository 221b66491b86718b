"""The public endpoints' OpenAPI schema, fuzzed by schemathesis: no input makes a 5xx."""

from __future__ import annotations

import base64
import os
import tempfile
from pathlib import Path

import schemathesis
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from digest.web import create_app
from tests.web_support import settings_for

_folder = Path(tempfile.mkdtemp(prefix="digest-schema-"))
_key = (
    ec.generate_private_key(ec.SECP256R1())
    .public_key()
    .public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
)
_app = create_app(
    settings_for(
        f"sqlite:///{_folder / 'digest.db'}",
        _folder,
        sendgrid_webhook_public_key=base64.b64encode(_key).decode(),
        # Configured, as the SendGrid key is: unconfigured, the endpoint answers 503.
        ses={"sns_topic_arns": ["arn:aws:sns:eu-west-1:123456789012:digest-ses-events"]},
        mailgun={"webhook_signing_key": "schema-test-mailgun-signing-key"},
        postmark={"webhook_username": "postmark", "webhook_password": "schema-test-password"},
        subscribe_limit_per_hour=1000,
        web_allowed_hosts=["testserver"],  # the Host schemathesis sends
    )
)
schema = schemathesis.openapi.from_asgi("/openapi.json", _app)


@schema.parametrize()
@settings(
    max_examples=int(os.environ.get("DIGEST_SCHEMA_EXAMPLES", "40")),
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
def test_public_endpoints_never_fail_with_5xx(case: schemathesis.Case) -> None:  # type: ignore[type-arg]
    case.call_and_validate(checks=[not_a_server_error])
