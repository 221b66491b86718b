"""Markdown articles with YAML front matter (title, url, source, author, published, tags,
keywords)."""

from __future__ import annotations

from typing import Any

import frontmatter
import yaml
from markdown_it import MarkdownIt

_BLOCK_TEXT = ("paragraph_open", "heading_open", "list_item_open", "blockquote_open")


def parse_markdown(raw: str) -> tuple[dict[str, Any], str, str | None]:
    """Front matter, the body as plain paragraphs, and the first `# heading` if there is one.

    Raises ValueError for front matter that is not a YAML mapping.
    """
    try:
        post = frontmatter.loads(raw)
    except yaml.YAMLError as error:
        raise ValueError(f"front matter is not valid YAML: {error}") from None
    metadata = dict(post.metadata)
    paragraphs, heading = _plain_paragraphs(post.content)
    return metadata, "\n\n".join(paragraphs), heading


def _plain_paragraphs(markdown: str) -> tuple[list[str], str | None]:
    """Markdown to readable text: links keep their words, emphasis and code marks go."""
    tokens = MarkdownIt("commonmark").parse(markdown)
    paragraphs: list[str] = []
    heading: str | None = None
    in_heading_level: str | None = None
    for token in tokens:
        if token.type == "heading_open":
            in_heading_level = token.tag
            continue
        if token.type == "heading_close":
            in_heading_level = None
            continue
        if token.type == "fence" or token.type == "code_block":
            paragraphs.append(token.content.strip())
            continue
        if token.type != "inline":
            continue
        parts: list[str] = []
        for child in token.children or []:
            if child.type in ("text", "code_inline"):
                parts.append(child.content)
            elif child.type in ("softbreak", "hardbreak"):
                parts.append(" ")
            elif child.type == "image":
                continue
        text = " ".join("".join(parts).split())
        if not text:
            continue
        if in_heading_level == "h1" and heading is None and not paragraphs:
            heading = text
            continue
        paragraphs.append(text)
    return paragraphs, heading
