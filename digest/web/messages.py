"""The words of the public pages and the confirmation email, in the newsletter's language.

A small catalogue rather than gettext: a handful of strings, kept beside each other so a
translation is checked at a glance. Durations and their plurals come from Babel (CLDR data),
so "2 дні" and "5 днів" are right without rules of our own. A language the catalogue lacks
reads English; a key a translation lacks reads its English string.
"""

from __future__ import annotations

from datetime import timedelta
from functools import lru_cache

from babel import Locale, UnknownLocaleError
from babel.units import format_unit

ENGLISH: dict[str, str] = {
    "archive": "Archive",
    "archive_title": "{title}: archive",
    "archive_empty": "Nothing sent yet.",
    "archive_item": "No. {number}, {date}: {subject}",
    "feed": "RSS feed",
    "subscribe": "Subscribe",
    "subscribe_title": "Subscribe to {title}",
    "subscribe_email": "Email",
    "subscribe_name": "Name (optional)",
    "subscribe_note": "We send a link to confirm first; nothing is sent without it.",
    "subscribe_sent": (
        "Thank you. Please check your inbox: we sent a link to confirm the subscription."
    ),
    "email_missing": "Email: please enter your email address.",
    "email_invalid": "Email: “{value}” is not an address we can send to.",
    "email_too_long": "Email: at most {limit} characters.",
    "name_too_long": "Name: at most {limit} characters.",
    "rate_limited": "Too many requests: please try again in an hour.",
    "unsubscribe_title": "Unsubscribe from {title}",
    "unsubscribe_ask_heading": "Unsubscribe?",
    "unsubscribe_ask": "Stop sending {title} to {email}?",
    "unsubscribe_button": "Unsubscribe",
    "unsubscribed_heading": "You are unsubscribed",
    "unsubscribed": "{email} will receive no more emails of {title}.",
    "changed_mind": "Changed your mind? You can subscribe again.",
    "confirm_title": "Confirm your subscription to {title}",
    "confirm_heading": "Confirm your subscription",
    "confirm_ask": "Send {title} to {email}?",
    "confirm_button": "Confirm",
    "confirmed_heading": "Subscribed",
    "confirmed": "{email} now receives {title}.",
    "confirm_subject": "Confirm your subscription to {title}",
    "confirm_body": (
        "Someone (we hope you) asked to receive {title} at this address.\n\n"
        "To confirm, open this link within {lifetime}:\n\n    {link}\n\n"
        "If it was not you, ignore this message: nothing happens without confirmation."
    ),
    "error_code": "Error {status}",
    "not_found_heading": "Page not found",
    "not_found": "There is no page at this address. The link may be incomplete or out of date.",
    "no_edition_heading": "No such edition",
    "no_edition": "This edition has not been sent, or its number is wrong.",
    "no_list_heading": "No such subscription",
    "no_list": "This subscription form does not exist (any more).",
    "bad_unsubscribe_heading": "This unsubscribe link does not work",
    "bad_unsubscribe": (
        "The link is incomplete or was changed. Open it again from the email, or copy the whole "
        "link into the address bar. You can also reply to the email and ask to be removed."
    ),
    "bad_confirm_heading": "This confirmation link does not work",
    "bad_confirm": (
        "The link is incomplete or was changed. Open it again from the email, or copy the whole "
        "link into the address bar."
    ),
    "expired_confirm_heading": "This confirmation link has expired",
    "expired_confirm": (
        "A link to confirm a subscription works for {lifetime}. Subscribe again to get a new one."
    ),
    "bad_request_heading": "This request could not be understood",
    "bad_request": "Please go back and try again.",
    "method_heading": "This page cannot do that",
    "method": "Open the page from its link or its form.",
    "unavailable_heading": "Subscriptions are closed for now",
    "unavailable": "Please try again later.",
    "server_error_heading": "Something went wrong",
    "server_error": (
        "The page could not be shown because of an error on our side. Please try again in a few "
        "minutes."
    ),
    "choice_topics": "Topics",
    "choice_topics_hint": "Tick every topic to get them all, topics added later included.",
    "choice_everything_now": "All ticked: you get every topic, including any added later.",
    "choice_frequency": "How often",
    "choice_all_topics": "every topic, including any added later",
    "choice_summary_topics": "Topics: {topics}.",
    "choice_summary_frequency": "How often: {frequency}.",
    "choice_no_topic": "Topics: choose at least one.",
    "choice_unknown_topic": "Topics: “{value}” is not one of the topics.",
    "choice_unknown_frequency": "How often: “{value}” is not one of the choices.",
    "preferences_title": "Your choices for {title}",
    "preferences_heading": "Choose your topics and how often",
    "preferences_for": "What {title} sends to {email}.",
    "preferences_save": "Save",
    "preferences_saved": "Saved. From the next edition on:",
    "preferences_none_leave": "To receive nothing, unsubscribe instead.",
    "preferences_leave": "To stop receiving {title}:",
    "preferences_nothing": (
        "{title} has nothing to choose: every reader gets every edition, at the same times."
    ),
    "preferences_not_subscribed": (
        "{email} is not subscribed to {title} (any more), so there is nothing to choose."
    ),
    "confirm_choices": "You chose:",
    "confirmed_choices": "Every email has a link to change your topics and how often.",
    "bad_preferences_heading": "This link to your choices does not work",
    "bad_preferences": (
        "The link is incomplete or was changed. Open it again from the email, or copy the whole "
        "link into the address bar."
    ),
    "to_archive": "All editions",
    "to_editions": "Back to the editions",
}

UKRAINIAN: dict[str, str] = {
    "archive": "Архів",
    "archive_title": "{title}: архів",
    "archive_empty": "Ще нічого не надіслано.",
    "archive_item": "№ {number}, {date}: {subject}",
    "feed": "RSS-стрічка",
    "subscribe": "Підписатися",
    "subscribe_title": "Підписка на {title}",
    "subscribe_email": "Електронна пошта",
    "subscribe_name": "Ім’я (необов’язково)",
    "subscribe_note": (
        "Спершу ми надішлемо посилання для підтвердження; без нього ви нічого не отримаєте."
    ),
    "subscribe_sent": (
        "Дякуємо. Перевірте пошту: ми надіслали посилання для підтвердження підписки."
    ),
    "email_missing": "Електронна пошта: введіть, будь ласка, свою адресу.",
    "email_invalid": "Електронна пошта: на «{value}» не можна надіслати лист.",
    "email_too_long": "Електронна пошта: не більше {limit} символів.",
    "name_too_long": "Ім’я: не більше {limit} символів.",
    "rate_limited": "Забагато запитів: спробуйте, будь ласка, за годину.",
    "unsubscribe_title": "Відписатися від {title}",
    "unsubscribe_ask_heading": "Відписатися?",
    "unsubscribe_ask": "Більше не надсилати {title} на {email}?",
    "unsubscribe_button": "Відписатися",
    "unsubscribed_heading": "Ви відписалися",
    "unsubscribed": "На {email} більше не надходитимуть листи {title}.",
    "changed_mind": "Передумали? Можна підписатися знову.",
    "confirm_title": "Підтвердження підписки на {title}",
    "confirm_heading": "Підтвердьте підписку",
    "confirm_ask": "Надсилати {title} на {email}?",
    "confirm_button": "Підтвердити",
    "confirmed_heading": "Підписку оформлено",
    "confirmed": "Відтепер {email} отримує {title}.",
    "confirm_subject": "Підтвердьте підписку на {title}",
    "confirm_body": (
        "Хтось (сподіваємося, ви) попросив надсилати {title} на цю адресу.\n\n"
        "Щоб підтвердити, відкрийте це посилання (термін дії: {lifetime}):\n\n    {link}\n\n"
        "Якщо це були не ви, просто проігноруйте цей лист: без підтвердження нічого не станеться."
    ),
    "error_code": "Помилка {status}",
    "not_found_heading": "Сторінку не знайдено",
    "not_found": "За цією адресою сторінки немає. Можливо, посилання неповне або застаріле.",
    "no_edition_heading": "Такого випуску немає",
    "no_edition": "Цей випуск ще не надіслано, або його номер неправильний.",
    "no_list_heading": "Такої підписки немає",
    "no_list": "Цієї форми підписки не існує (або вже не існує).",
    "bad_unsubscribe_heading": "Це посилання для відписки не працює",
    "bad_unsubscribe": (
        "Посилання неповне або змінене. Відкрийте його знову з листа або скопіюйте посилання "
        "повністю в адресний рядок. Також можна відповісти на лист і попросити видалити вашу "
        "адресу зі списку."
    ),
    "bad_confirm_heading": "Це посилання для підтвердження не працює",
    "bad_confirm": (
        "Посилання неповне або змінене. Відкрийте його знову з листа або скопіюйте посилання "
        "повністю в адресний рядок."
    ),
    "expired_confirm_heading": "Термін дії посилання минув",
    "expired_confirm": (
        "Термін дії посилання для підтвердження підписки — {lifetime}. Підпишіться ще раз, щоб "
        "отримати нове."
    ),
    "bad_request_heading": "Запит не вдалося зрозуміти",
    "bad_request": "Поверніться назад і спробуйте ще раз.",
    "method_heading": "Ця сторінка так не працює",
    "method": "Відкрийте сторінку за її посиланням або через її форму.",
    "unavailable_heading": "Підписка тимчасово закрита",
    "unavailable": "Спробуйте, будь ласка, пізніше.",
    "server_error_heading": "Щось пішло не так",
    "server_error": (
        "Сторінку не вдалося показати через помилку з нашого боку. Спробуйте ще раз за кілька "
        "хвилин."
    ),
    "choice_topics": "Теми",
    "choice_topics_hint": (
        "Позначте всі теми, щоб отримувати все, зокрема теми, які додадуть пізніше."
    ),
    "choice_everything_now": (
        "Позначено всі: ви отримуєте всі теми, зокрема ті, що додадуть пізніше."
    ),
    "choice_frequency": "Як часто",
    "choice_all_topics": "усі теми, зокрема ті, що додадуть пізніше",
    "choice_summary_topics": "Теми: {topics}.",
    "choice_summary_frequency": "Як часто: {frequency}.",
    "choice_no_topic": "Теми: оберіть хоча б одну.",
    "choice_unknown_topic": "Теми: «{value}» — не одна з тем.",
    "choice_unknown_frequency": "Як часто: «{value}» — не один із варіантів.",
    "preferences_title": "Ваш вибір: {title}",
    "preferences_heading": "Оберіть теми й частоту",
    "preferences_for": "Що {title} надсилає на {email}.",
    "preferences_save": "Зберегти",
    "preferences_saved": "Збережено. Починаючи з наступного випуску:",
    "preferences_none_leave": "Щоб не отримувати нічого, краще відпишіться.",
    "preferences_leave": "Щоб більше не отримувати {title}:",
    "preferences_nothing": (
        "У {title} немає з чого обирати: кожен читач отримує кожен випуск водночас з іншими."
    ),
    "preferences_not_subscribed": (
        "{email} не підписано на {title} (або вже не підписано), тож обирати нічого."
    ),
    "confirm_choices": "Ви обрали:",
    "confirmed_choices": "У кожному листі є посилання, щоб змінити теми й частоту.",
    "bad_preferences_heading": "Це посилання на ваш вибір не працює",
    "bad_preferences": (
        "Посилання неповне або змінене. Відкрийте його знову з листа або скопіюйте посилання "
        "повністю в адресний рядок."
    ),
    "to_archive": "Усі випуски",
    "to_editions": "До випусків",
}

CATALOGUE: dict[str, dict[str, str]] = {"en": ENGLISH, "uk": UKRAINIAN}

# Largest first: a duration is said in the largest unit that measures it exactly.
_UNITS = (
    (timedelta(days=7), "duration-week"),
    (timedelta(days=1), "duration-day"),
    (timedelta(hours=1), "duration-hour"),
    (timedelta(minutes=1), "duration-minute"),
)


class Messages:
    """One language's strings: `messages("key", title=...)`, and durations for people."""

    def __init__(self, language: str) -> None:
        primary = language.split("-")[0].lower()
        self.language = primary if primary in CATALOGUE else "en"
        self._strings = CATALOGUE[self.language]
        try:
            self._locale = Locale.parse(language.replace("-", "_"))
        except (UnknownLocaleError, ValueError):
            self._locale = Locale.parse(self.language)

    def __call__(self, key: str, **values: object) -> str:
        template = self._strings.get(key) or ENGLISH[key]
        return template.format(**values) if values else template

    def duration(self, span: timedelta) -> str:
        """ "2 days", "12 hours", "90 minutes": exact, in the largest unit that fits, never a
        clock ("2 days, 0:00:00"). Under a minute reads as one minute."""
        for unit, name in _UNITS:
            if span >= unit and span % unit == timedelta(0):
                return format_unit(span // unit, name, length="long", locale=self._locale)
        minutes = max(1, int(span.total_seconds() // 60))
        return format_unit(minutes, "duration-minute", length="long", locale=self._locale)


@lru_cache(maxsize=32)
def messages(language: str) -> Messages:
    """The catalogue for a newsletter's `language` setting ("en", "uk", "pt-BR", ...)."""
    return Messages(language)
