"""Which words of a customer's name and a case subject are searchable, and how typed
text becomes search words. Pure: the blind index (security/crypto) is applied by the
caller, so these are the plaintext terms before they are hashed.

Normalising: Unicode NFKD, accents (combining marks) dropped, case folded; words are
the runs of letters and digits (anything else separates), so "Chloé O'Neil-Smith"
has the words chloe, o, neil, smith.

* A name is indexed by each of its words and by every prefix of 3 or more characters
  of each word ("kenji" → ken, kenj, kenji): a typed word of 3+ characters finds the
  names with a word starting with it, a word of 1-2 characters finds that whole word.
* A subject is indexed by each of its whole words of 2 or more characters.
"""

from __future__ import annotations

import re
import unicodedata

NAME_PREFIX_MIN = 3
SUBJECT_WORD_MIN = 2
MAX_QUERY_WORDS = 6  # more typed words than this narrow nothing further
MAX_WORD = 64  # longer runs are cut (indexed and searched the same way)
_WORD = re.compile(r"[^\W_]+")


def normalise(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).casefold()


def words(text: str) -> list[str]:
    """The normalised words of ``text`` in order (duplicates kept)."""
    return [w[:MAX_WORD] for w in _WORD.findall(normalise(text))]


def name_terms(full_name: str) -> set[str]:
    out: set[str] = set()
    for word in words(full_name):
        out.add(word)
        out.update(word[:k] for k in range(NAME_PREFIX_MIN, len(word)))
    return out


def subject_terms(subject: str) -> set[str]:
    return {w for w in words(subject) if len(w) >= SUBJECT_WORD_MIN}


def name_query(text: str) -> tuple[str, ...]:
    """The distinct words a customer-name search looks for (all must match)."""
    return tuple(dict.fromkeys(words(text)))


def subject_query(text: str) -> tuple[str, ...]:
    """The distinct words (2+ characters) a subject search looks for (all must match)."""
    return tuple(dict.fromkeys(w for w in words(text) if len(w) >= SUBJECT_WORD_MIN))
