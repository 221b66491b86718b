"""The lint's findings, and template errors that name the template, line and message."""

from __future__ import annotations

from pathlib import Path

import pytest

from digest.articles import Article
from digest.edition import Item, Section
from digest.render import TemplateProblem, render_edition
from digest.render.lint import lint_email
from digest.summarize import Summary
from tests.conftest import make_newsletter
from tests.test_render import make_edition, twelve_articles

ROOT = Path(__file__).resolve().parent.parent


def codes(findings: list) -> list[str]:  # type: ignore[type-arg]
    return [f"{f.severity}:{f.code}" for f in findings]


def test_clean_edition_has_no_findings() -> None:
    email = render_edition(make_edition(twelve_articles()), make_newsletter())
    assert email.findings == []


def test_oversized_email_fails_the_size_check() -> None:
    article = Article(id=1, title="Big", text="Body.", url="https://example.org/big")
    # A long summary per item: 60 items of 2 KB each push the HTML past 102 KB.
    items = [
        Item(
            article=article.model_copy(update={"id": n, "url": f"https://example.org/{n}"}),
            summary=Summary(text="word " * 400, method="t"),
        )
        for n in range(60)
    ]
    edition = make_edition([[article]]).model_copy(
        update={"sections": [Section(title="S", items=items)]}
    )
    email = render_edition(edition, make_newsletter())
    assert email.size > 102 * 1024
    assert "error:size" in codes(email.findings)
    assert "Gmail clips" in email.errors[0].message


def test_lint_flags_alt_links_markers_and_empty_summaries() -> None:
    edition = make_edition(twelve_articles())
    edition.sections[0].items[0].summary.text = "  "
    html = (
        '<html><body><img src="https://x/a.png"><img src="https://x/b.png" alt="">'
        '<a href="http://insecure.example.org">x</a><a href="javascript:alert(1)">y</a>'
        '<a href="%%unsubscribe_url%%">u</a><p>Hello {{ name }}</p><style>a{b:c}}</style>'
        "</body></html>"
    )
    findings = codes(lint_email(edition, html=html, text="%%unsubscribe_url%% {% if %}"))
    assert findings.count("error:image-alt") == 1
    assert findings.count("warning:image-alt") == 1
    assert "warning:insecure-link" in findings
    assert "error:bad-link" in findings
    assert "error:empty-summary" in findings
    assert findings.count("error:template-marker") == 2  # "{{" in the HTML text, "{%" in text
    assert "error:no-unsubscribe" not in findings


def test_missing_unsubscribe_link_is_an_error(tmp_path: Path) -> None:
    custom = tmp_path / "templates" / "partials"
    custom.mkdir(parents=True)
    (custom / "footer.mjml.j2").write_text(
        "<mj-section><mj-column><mj-text>{{ newsletter.postal_address }}</mj-text></mj-column>"
        "</mj-section>",
        encoding="utf-8",
    )
    email = render_edition(
        make_edition(twelve_articles()), make_newsletter(), tmp_path / "templates"
    )
    assert "error:no-unsubscribe" in codes(email.findings)


def test_custom_partial_overrides_only_itself(tmp_path: Path) -> None:
    custom = tmp_path / "t" / "partials"
    custom.mkdir(parents=True)
    (custom / "intro.mjml.j2").write_text(
        "<mj-section><mj-column><mj-text>CUSTOM {{ edition.intro }}</mj-text></mj-column>"
        "</mj-section>",
        encoding="utf-8",
    )
    email = render_edition(make_edition(twelve_articles()), make_newsletter(), tmp_path / "t")
    assert "CUSTOM Intro with" in email.html
    assert "Read more" in email.html  # the default article partial is still used


@pytest.mark.parametrize(
    ("partial", "content", "expected"),
    [
        (
            "intro.mjml.j2",
            "<mj-section>\n{% if edition.intro %}\n</mj-section>",
            r"intro\.mjml\.j2:3: Unexpected end of template",
        ),
        (
            "intro.mjml.j2",
            "<mj-section>\n\n{{ edition.nonexistent.attr }}\n</mj-section>",
            r"intro\.mjml\.j2:3: .*nonexistent",
        ),
        (
            "intro.mjml.j2",
            "<mj-section><mj-column><mj-text>x</mj-column></mj-section>",
            r"digest\.mjml\.j2: produced invalid MJML: .*MJML line \d+: "
            r"Opening and ending tag mismatch",
        ),
    ],
)
def test_broken_template_names_template_and_line(
    tmp_path: Path, partial: str, content: str, expected: str
) -> None:
    folder = tmp_path / "broken" / "partials"
    folder.mkdir(parents=True)
    (folder / partial).write_text(content, encoding="utf-8")
    with pytest.raises(TemplateProblem, match=expected):
        render_edition(make_edition(twelve_articles()), make_newsletter(), tmp_path / "broken")


def test_unknown_template_name() -> None:
    with pytest.raises(TemplateProblem, match=r"template 'fancy\.mjml\.j2' not found"):
        render_edition(make_edition(twelve_articles()), make_newsletter(template="fancy"))


def test_article_text_quoting_markers_is_sent_as_written(tmp_path: Path) -> None:
    """A story that quotes "{{ price }}" and "%%name%%" is not a broken template: it builds,
    lints clean, goes out, and every reader reads the quote as written (sending fills only the
    markers the templates put there; a link's "%%email%%" never becomes an address)."""
    import json
    from datetime import date
    from email import message_from_bytes, policy
    from email.message import EmailMessage

    from digest.app import App
    from digest.config import Settings
    from digest.render.placeholders import WORD_JOINER
    from digest.store.subscribers import NewSubscriber

    story = {
        "title": "Shops print {{ price }} and %%name%% on shelf labels",
        "url": "https://example.org/labels?who=%%email%%",
        "source": "Example {% News %}",
        "text": (
            "Several supermarkets printed {{ price }} and %%name%% on their shelf labels this "
            "week after a template error at a supplier. Shoppers posted photos of the labels. "
            "The supplier said the fault was fixed by Friday and apologised to customers."
        ),
    }
    articles = tmp_path / "story.json"
    articles.write_text(json.dumps(story), encoding="utf-8")
    app = App(
        Settings(
            database_url=f"sqlite:///{tmp_path / 'digest.db'}",
            newsletters={"brief": make_newsletter(lists=["readers"])},
            secret_key="test-secret-0123456789",
            outbox_dir=tmp_path / "outbox",
        )
    )
    try:
        assert app.add([str(articles)]).errors == []
        edition = app.build(app.settings.newsletter("brief"), date(2026, 11, 24))
        assert app.render(edition).findings == []
        list_id = app.store.subscribers.ensure_list("readers")
        app.store.subscribers.upsert(
            list_id,
            [
                NewSubscriber(email="ana@example.org", name="Ana"),
                NewSubscriber(email="odd@example.org", name="%%email%%"),
            ],
        )
        assert app.send(app.approve(edition)).sent == 2
    finally:
        app.close()
    received = {}
    for path in (tmp_path / "outbox").rglob("*.eml"):
        message = message_from_bytes(path.read_bytes(), policy=policy.default)
        assert isinstance(message, EmailMessage)
        received[message["To"].addresses[0].addr_spec] = message
    assert set(received) == {"ana@example.org", "odd@example.org"}
    for address, message in received.items():
        text_part, html_part = message.get_body(("plain",)), message.get_body(("html",))
        assert text_part is not None and html_part is not None
        text, html = text_part.get_content(), html_part.get_content()
        read = " ".join(text.replace(WORD_JOINER, "").split())
        assert "Shops print {{ price }} and %%name%% on shelf labels" in read
        assert "Example {% News %}" in read
        assert "%%" not in text and "%%" not in html  # nothing left for a second fill
        assert "who=%25%25email%25%25" in html and "who=%25%25email%25%25" in text
        assert text.count(address) == 1  # the footer's "sent to", nowhere else
    assert "Hello Ana," in received["ana@example.org"].get_body(("plain",)).get_content()  # type: ignore[union-attr]
    odd = received["odd@example.org"].get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert f"Hello %{WORD_JOINER}%email%{WORD_JOINER}%," in odd


def test_a_broken_template_is_still_found_beside_quoting_text(tmp_path: Path) -> None:
    """Text that quotes markers does not hide a template's own leftover marker."""
    custom = tmp_path / "t" / "partials"
    custom.mkdir(parents=True)
    intro = (ROOT / "templates" / "partials" / "intro.mjml.j2").read_text(encoding="utf-8")
    (custom / "intro.mjml.j2").write_text(
        intro.replace("Hello ", "{{ '{{' }} Hello "), encoding="utf-8"
    )
    quoting = Article(id=1, title="About {{ price }} tags", text="Body {{ x }}.")
    edition = make_edition([[quoting]])
    assert codes(render_edition(edition, make_newsletter()).findings) == []
    findings = render_edition(edition, make_newsletter(), tmp_path / "t").findings
    assert codes(findings) == ["error:template-marker"]
    assert findings[0].message == "HTML part has leftover template markers: '{{'"
