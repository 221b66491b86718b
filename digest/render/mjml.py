"""MJML to HTML with mjml-python (MRML), and errors that point at the offending MJML line."""

from __future__ import annotations

from digest.render.templates import TemplateProblem


def compile_mjml(source: str, template_name: str) -> str:
    from mjml import mjml2html

    try:
        # fonts={}: MJML otherwise links Google Fonts for any of its known families named in
        # a font stack (Roboto…), disclosing every reader to a third party. The newsletter's
        # own web font, if any, comes from the template's mj-font.
        html: str = mjml2html(source, disable_comments=True, fonts={})
    except (ValueError, RuntimeError) as error:
        raise TemplateProblem(
            f"{template_name}: produced invalid MJML: {error}{_locate(source)}"
        ) from None
    return html


def _locate(source: str) -> str:
    """MRML's messages carry no position; an XML parse of the same text usually finds one."""
    from lxml import etree

    parser = etree.XMLParser(recover=False, resolve_entities=False, no_network=True)
    try:
        etree.fromstring(source.encode("utf-8"), parser)
    except etree.XMLSyntaxError as error:
        line = error.lineno or 0
        lines = source.splitlines()
        snippet = lines[line - 1].strip()[:120] if 0 < line <= len(lines) else ""
        return f" (MJML line {line}: {error.msg}; near {snippet!r})"
    return ""
