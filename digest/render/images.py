"""Article thumbnails in the email: which picture is shown, and the box it is given.

A picture is shown only if the newsletter has `article_images` on, the editor left it on for
the item, and it is https (an http one would load in the clear in every reader's client; the
lint names it). The box keeps the picture's aspect ratio when its size is known, so clients
that honour width and height (Outlook) never stretch it, and reserve the space with images off.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from digest.articles import Article
from digest.edition import Item

THUMBNAIL_WIDTH = 120
THUMBNAIL_MAX_HEIGHT = 160


@dataclass(frozen=True)
class Thumbnail:
    url: str
    alt: str
    width: int
    height: int | None  # None: the size is unknown, the client keeps the ratio (height: auto)


def shown_picture(article: Article) -> bool:
    return bool(article.image_url) and urlsplit(article.image_url or "").scheme == "https"


def thumbnail(item: Item, enabled: bool = True) -> Thumbnail | None:
    """The item's thumbnail, or None when there is none to show."""
    article = item.article
    if not (enabled and item.show_image and shown_picture(article)):
        return None
    assert article.image_url is not None
    width, height = THUMBNAIL_WIDTH, None
    if article.image_width and article.image_height:
        height = round(width * article.image_height / article.image_width)
        if height > THUMBNAIL_MAX_HEIGHT:
            width = max(1, round(width * THUMBNAIL_MAX_HEIGHT / height))
            height = THUMBNAIL_MAX_HEIGHT
        height = max(1, height)
    return Thumbnail(url=article.image_url, alt=article.title, width=width, height=height)
