"""Summaries from a large language model, through any OpenAI-compatible chat-completions API
(OpenAI, Ollama, vLLM, llama.cpp's server and most hosted models: a base URL, a model, a key).

Bounded concurrency, timeouts, retries on 429 and 5xx, a cache (article text + model + prompt
version) so an article is asked about once, and per article a fall-back to the extractive
summariser, with a warning, when the model fails.

A summary is used only if it passes the checks every summary passes and the guards: its first
sentence does not point back to something it does not say ("He", "This", "But…"), none of its
sentences is boilerplate (`readability`), every number and name in it is in the article
(`unsupported`), and every sentence is grounded in one or two of the article's sentences, its
words and the relations between them (`grounding`). Otherwise the extractive summary is used
and the note for the editor says why.
"""

from __future__ import annotations

import hashlib
import logging
import re
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

import httpx

from digest.articles import Article
from digest.summarize import Summarizer, Summary
from digest.summarize.grounding import ungrounded, word_key
from digest.summarize.readability import boilerplate, pointing_back
from digest.summarize.sentences import text_sentences
from digest.terms import STOP_WORDS, tokens

log = logging.getLogger("digest.llm")

PROMPT_VERSION = "2"
SEED = 0  # with temperature 0: the same answer for the same article, where the server can
_ARTICLE_WORDS = 2500  # enough for any news story; keeps requests small
_NUMBER = re.compile(r"\d[\d,.]*\d|\d")
# A capitalised word, whole: "McCoy", "O'Neill", "Al-Douri", "Gisèle" (not "Neill", "Mc").
_NAME_WORD = r"[A-Z][^\W\d_]+(?:['’-][^\W\d_]+)*"
_NAME = re.compile(rf"(?<![.!?]\s)(?<!^)(?<![\w'’-]){_NAME_WORD}(?:\s+{_NAME_WORD})*")
_SYSTEM = (
    "You write summaries for the newsletter {title!r}, whose theme is: {theme}. Summarise the "
    "article the user gives you faithfully, in 1 to 3 sentences and at most {words} words, in "
    "the language with code {language!r}. Use only facts stated in the article; do not add "
    "names, numbers or opinions. Answer with the summary alone."
)

CacheGet = Callable[[str], str | None]
CachePut = Callable[[str, str], None]


class LlmError(Exception):
    """The model did not give a usable answer."""


class LlmSummarizer:
    method = "llm"

    def __init__(
        self,
        *,
        base_url: str,
        model: str,
        api_key: str,
        fallback: Summarizer,
        title: str = "",
        language: str = "en",
        timeout: float = 60.0,
        concurrency: int = 4,
        max_attempts: int = 3,
        cache_get: CacheGet | None = None,
        cache_put: CachePut | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.model, self.title, self.language = model, title, language
        self.fallback = fallback
        self.concurrency, self.max_attempts, self.sleep = concurrency, max_attempts, sleep
        self.cache_get, self.cache_put = cache_get, cache_put
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.client = httpx.Client(timeout=httpx.Timeout(timeout), headers=headers)

    def summarize(self, article: Article, *, theme: str, max_words: int) -> Summary:
        key = self._cache_key(article, theme, max_words)
        cached = self.cache_get(key) if self.cache_get else None
        if cached is not None:
            return Summary(text=cached, method=self.method)
        try:
            text = self._ask(article, theme, max_words)
        except LlmError as error:
            log.warning(
                "LLM summary of %r failed (%s): extractive summary used", article.title, error
            )
            summary = self.fallback.summarize(article, theme=theme, max_words=max_words)
            return summary.model_copy(update={"note": f"LLM failed ({error}); extractive used"})
        refusal = refused(text, article)
        if refusal:
            log.warning("LLM summary of %r not used (%s): extractive used", article.title, refusal)
            summary = self.fallback.summarize(article, theme=theme, max_words=max_words)
            return summary.model_copy(update={"note": f"LLM summary not used: {refusal}"})
        if self.cache_put:
            self.cache_put(key, text)
        return Summary(text=text, method=self.method)

    def summarize_many(
        self, articles: Sequence[Article], *, theme: str, max_words: int
    ) -> list[Summary]:
        """In parallel, at most `concurrency` requests at a time, in the articles' order."""
        with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
            return list(
                pool.map(lambda a: self.summarize(a, theme=theme, max_words=max_words), articles)
            )

    def _cache_key(self, article: Article, theme: str, max_words: int) -> str:
        text = "\n".join(
            [PROMPT_VERSION, self.model, theme, str(max_words), self.language, article.content_hash]
        )
        return hashlib.sha256(text.encode()).hexdigest()

    def _ask(self, article: Article, theme: str, max_words: int) -> str:
        body = {
            "model": self.model,
            "stream": False,
            "temperature": 0,
            "seed": SEED,
            "max_tokens": 4 * max_words + 32,
            "messages": [
                {
                    "role": "system",
                    "content": _SYSTEM.format(
                        title=self.title, theme=theme, words=max_words, language=self.language
                    ),
                },
                {
                    "role": "user",
                    "content": f"Title: {article.title}\n\n"
                    + " ".join(article.text.split()[:_ARTICLE_WORDS]),
                },
            ],
        }
        last = "no answer"
        for attempt in range(1, self.max_attempts + 1):
            try:
                response = self.client.post(self.url, json=body)
            except httpx.TimeoutException:
                last = "timed out"
            except httpx.HTTPError as error:
                last = f"{type(error).__name__}: {error}"
            else:
                if response.status_code == 200:
                    return _answer(response)
                last = f"HTTP {response.status_code}"
                if response.status_code not in (408, 409, 429) and response.status_code < 500:
                    raise LlmError(f"{last}: {response.text[:200]}")
                retry_after = response.headers.get("Retry-After", "")
                if attempt < self.max_attempts:
                    self.sleep(float(retry_after) if retry_after.isdigit() else 0.5 * 2**attempt)
                continue
            if attempt < self.max_attempts:
                self.sleep(0.5 * 2**attempt)
        raise LlmError(f"{last} after {self.max_attempts} attempts")

    def close(self) -> None:
        self.client.close()


def _answer(response: httpx.Response) -> str:
    try:
        text = response.json()["choices"][0]["message"]["content"]
    except (ValueError, KeyError, IndexError, TypeError):
        raise LlmError("the answer is not a chat completion") from None
    if not isinstance(text, str) or not text.strip():
        raise LlmError("the answer is empty")
    text = " ".join(text.split())
    if len(text.split()) > 150:
        raise LlmError("the answer is far longer than a summary")
    return text


def refused(summary: str, article: Article) -> str:
    """Why the LLM's `summary` of `article` may not be used, in an editor's words ("" when it
    may): the readability checks, then names and numbers, then grounding, sentence by
    sentence."""
    sentences = text_sentences(summary)
    if not sentences:
        return "it is empty"
    opening = pointing_back(sentences[0])
    if opening:
        return f"it opens on {opening!r}, pointing back to something it does not say"
    for sentence in sentences:
        if boilerplate(sentence):
            return f"{_quote(sentence)} is about the page, not the news"
    missing = unsupported(summary, f"{article.title}\n\n{article.text}")
    if missing:
        return f"{', '.join(missing[:3])} not in the article"
    for grounding in ungrounded(summary, article.text, title=article.title):
        return f"{_quote(grounding.sentence)} is not supported by the article: {grounding.reason()}"
    return ""


def _quote(sentence: str, words: int = 12) -> str:
    cut = sentence.split()
    return "“" + " ".join(cut[:words]) + ("…" if len(cut) > words else "") + "”"


def unsupported(summary: str, article: str) -> list[str]:
    """Numbers and names in the summary that the article does not contain."""
    flat = " ".join(article.split())
    digits = {number.replace(",", "") for number in _NUMBER.findall(flat)}
    # Names are compared word by word in their normalised forms, so that "Ukrainian" stands
    # for the article's "Ukraine's" and "Russian" for its "Russia".
    keys = {word_key(token) for token in tokens(flat)}

    def known(name: str) -> bool:
        return all(word_key(token) in keys for token in tokens(name))

    missing = [
        n
        for n in _NUMBER.findall(summary)
        if n.replace(",", "").rstrip(".") not in digits and n.replace(",", "") not in digits
    ]
    for sentence in re.split(r"(?<=[.!?])\s+", summary):
        # Capitalised words after the first word of a sentence are names (or the start of one);
        # the first word is one too unless it is a common word ("The", "However").
        first = re.match(_NAME_WORD, sentence)
        word = first.group().lower() if first else ""
        if word and word not in _COMMON_OPENERS and not known(word):
            missing.append(first.group())  # type: ignore[union-attr]
        for name in _NAME.findall(sentence[1:] if sentence else sentence):
            if not known(name):
                missing.append(name)
    return list(dict.fromkeys(missing))


_STARTERS = frozenset(
    ["meanwhile", "still", "instead", "elsewhere", "overall", "separately", "later", "earlier"]
)
# Common words a sentence may open on that name no one: made once, not for every sentence.
_COMMON_OPENERS = STOP_WORDS | _STARTERS


_EDITION_PROMPT = (
    "You edit the newsletter {title!r}, whose theme is: {theme}. From the sections and stories "
    "the user lists, write in the language with code {language!r}: a subject line of at most "
    "70 characters naming the top story, an intro of 1 to 3 sentences, and a heading of at most "
    "4 words for each section, naming its topic. Use only names and numbers that appear in the "
    'list. Answer with JSON only: {{"subject": "...", "intro": "...", "headings": ["...", ...]}}'
)


# "Section 2: Air defences": a small model echoing the listing it was given.
_LISTING_ECHO = re.compile(r"\bSection \d+:")


def edition_copy(
    summarizer: LlmSummarizer, theme: str, sections: list[tuple[str, list[tuple[str, str]]]]
) -> tuple[dict[str, object], list[str]]:
    """Subject, intro and section headings written by the model: (the fields that passed the
    faithfulness guard, notes on those that did not). `sections` is (heading, [(title,
    summary)]) in reading order."""
    listing = "\n\n".join(
        f"Section {n}: {heading}\n" + "\n".join(f"- {title}: {summary}" for title, summary in items)
        for n, (heading, items) in enumerate(sections, start=1)
    )
    body: dict[str, object] = {
        "model": summarizer.model,
        "stream": False,
        "temperature": 0,
        "seed": SEED,
        "max_tokens": 600,
        # JSON mode: servers that have it constrain the answer to a JSON object, which a small
        # model does not manage on its own (SmolLM2-135M nests its answer in an object named
        # after the newsletter, and runs out of tokens). llama.cpp's server (llama-cpp-python)
        # also takes the object's schema here and holds the model to it.
        "response_format": {"type": "json_object", "schema": _edition_schema(len(sections))},
        "messages": [
            {
                "role": "system",
                "content": _EDITION_PROMPT.format(
                    title=summarizer.title, theme=theme, language=summarizer.language
                ),
            },
            {"role": "user", "content": listing},
        ],
    }
    try:
        response = summarizer.client.post(summarizer.url, json=body)
        if response.status_code == 400:
            # A server without JSON mode, or without a schema in it, refuses the field: ask
            # again without it, and read the JSON from the prose.
            del body["response_format"]
            response = summarizer.client.post(summarizer.url, json=body)
        if response.status_code != 200:
            raise LlmError(f"HTTP {response.status_code}")
        answer = json_object(response.json()["choices"][0]["message"]["content"])
    except (LlmError, httpx.HTTPError, ValueError, KeyError, IndexError, TypeError) as error:
        return {}, [f"LLM subject, intro and headings not used ({error})"]
    notes: list[str] = []
    fields: dict[str, object] = {}
    source = f"{summarizer.title}\n{theme}\n{listing}"  # the newsletter may name itself
    for key, limit in (("subject", 90), ("intro", 600)):
        value = answer.get(key)
        if not isinstance(value, str) or not value.strip() or len(value) > limit:
            notes.append(f"LLM {key} not used (missing or too long)")
            continue
        if _LISTING_ECHO.search(value):
            notes.append(f"LLM {key} not used (it repeats the list it was given)")
            continue
        missing = unsupported(value, source)
        if missing:
            notes.append(f"LLM {key} not used: {', '.join(missing[:3])} not in the articles")
            continue
        fields[key] = " ".join(value.split())
    headings = answer.get("headings")
    if (
        isinstance(headings, list)
        and len(headings) == len(sections)
        and all(isinstance(h, str) and 0 < len(h.split()) <= 6 for h in headings)
        and not any(unsupported(h, source) for h in headings)
    ):
        fields["headings"] = [h.strip() for h in headings]
    else:
        notes.append("LLM section headings not used (wrong count, too long, or unsupported)")
    return fields, notes


def _edition_schema(sections: int) -> dict[str, object]:
    text = {"type": "string", "minLength": 1}
    return {
        "type": "object",
        "properties": {
            "subject": text,
            "intro": text,
            "headings": {
                "type": "array",
                "items": text,
                "minItems": sections,
                "maxItems": sections,
            },
        },
        "required": ["subject", "intro", "headings"],
        "additionalProperties": False,
    }


def json_object(raw: object) -> dict[str, object]:
    """The JSON object in a model's answer, read tolerantly: inside a Markdown code fence or
    after a sentence of preamble, the first balanced object. LlmError when there is none."""
    import json

    if not isinstance(raw, str):
        raise LlmError("the answer is not text")
    decoder = json.JSONDecoder()
    for start in (i for i, c in enumerate(raw) if c == "{"):
        try:
            value, _ = decoder.raw_decode(raw, start)
        except ValueError:
            continue
        if isinstance(value, dict):
            return value
    raise LlmError(f"the answer is not a JSON object: {' '.join(raw.split())[:80]!r}")
