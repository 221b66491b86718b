"""What each sender needs published in DNS, as the providers document it: the SPF include that
authorises their servers, their fixed DKIM selectors (where they are fixed), and the domain
their DKIM CNAMEs point into."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Provider:
    label: str
    spf_include: str  # "" for smtp: its host's own addresses are checked instead
    dkim_selectors: tuple[str, ...]  # fixed by the provider; () when each account gets its own
    dkim_domains: tuple[str, ...]  # where the provider's DKIM CNAMEs point
    where: str  # where the operator finds the exact records


PROVIDERS = {
    # Automated security (the default): s1 and s2 are CNAMEs into sendgrid.net, and SPF is
    # published by SendGrid on the return-path subdomain (emNNNN) they delegate.
    "sendgrid": Provider(
        "SendGrid",
        "sendgrid.net",
        ("s1", "s2"),
        ("sendgrid.net",),
        "SendGrid's Sender Authentication page",
    ),
    # Easy DKIM: three CNAMEs named by tokens SES makes for each identity.
    "ses": Provider(
        "Amazon SES", "amazonses.com", (), ("amazonses.com",), "the SES identity's DKIM records"
    ),
    # A date-based selector (e.g. 20240101abc) per sender signature or domain.
    "postmark": Provider(
        "Postmark",
        "spf.mtasv.net",
        (),
        ("mtasv.net",),
        "Postmark's Sender Signatures → DNS settings",
    ),
    # Selectors differ by account age (pdk1/pdk2, k1, smtp, mx…).
    "mailgun": Provider(
        "Mailgun",
        "mailgun.org",
        (),
        ("mailgun.org", "mailgun.com"),
        "Mailgun's Domain settings → DNS records",
    ),
    "smtp": Provider("the SMTP server", "", (), (), "your mail server's DKIM settings"),
}


def provider_for(sender: str) -> Provider:
    return PROVIDERS[sender]


def in_domain(name: str, domain: str) -> bool:
    """Whether `name` is `domain` or a name under it."""
    name, domain = name.lower().rstrip("."), domain.lower().rstrip(".")
    return name == domain or name.endswith("." + domain)
