"""Subscribers: who receives a list's emails, and whether they still want them."""

from digest.subscribers.model import Status, Subscriber, normalise_address

__all__ = ["Status", "Subscriber", "normalise_address"]
