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
    # Where receivers check SPF for the provider's mail (its envelope sender, MAIL FROM):
    # "from" the From domain; "own" the provider's own return-path domain (return_path), where
    # it passes with nothing published; "sending" the sending domain of [mailgun] domain.
    envelope: str = "from"
    return_path: str = ""


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
    # The default MAIL FROM is a subdomain of amazonses.com (a custom one is optional).
    "ses": Provider(
        "Amazon SES",
        "amazonses.com",
        (),
        ("amazonses.com",),
        "the SES identity's DKIM records",
        envelope="own",
        return_path="amazonses.com",
    ),
    # A date-based selector (e.g. 20240101abc) per sender signature or domain.
    "postmark": Provider(
        "Postmark",
        "spf.mtasv.net",
        (),
        ("mtasv.net",),
        "Postmark's Sender Signatures → DNS settings",
        # The default Return-Path is pm.mtasv.net (a custom one, pm-bounces, is optional).
        envelope="own",
        return_path="pm.mtasv.net",
    ),
    # Selectors differ by account age (pdk1/pdk2, k1, smtp, mx…).
    "mailgun": Provider(
        "Mailgun",
        "mailgun.org",
        (),
        ("mailgun.org", "mailgun.com"),
        "Mailgun's Domain settings → DNS records",
        # The envelope sender is on the sending domain (mg.example.org): its SPF says Mailgun.
        envelope="sending",
    ),
    "smtp": Provider("the SMTP server", "", (), (), "your mail server's DKIM settings"),
}


def provider_for(sender: str) -> Provider:
    return PROVIDERS[sender]


def in_domain(name: str, domain: str) -> bool:
    """Whether `name` is `domain` or a name under it."""
    name, domain = name.lower().rstrip("."), domain.lower().rstrip(".")
    return name == domain or name.endswith("." + domain)
