"""Markers that rendering leaves in an email for sending to fill in per recipient."""

UNSUBSCRIBE_URL = "%%unsubscribe_url%%"

ALL = (UNSUBSCRIBE_URL,)
