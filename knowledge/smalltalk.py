"""Small talk: "thanks!", "hi", "ok 👍" get a kind word, never a manual search, and are never
logged as questions the manuals could not answer."""

from __future__ import annotations

import re

_WORDS = re.compile(r"[a-z']+")

_THANKS = {"thanks", "thank", "thx", "ty", "cheers", "ta", "tysm", "thankyou", "appreciated", "appreciate", "great", "perfect",
           "awesome", "brilliant", "helpful", "lovely", "nice", "excellent", "super", "much", "you", "very", "so", "a", "lot",
           "that", "it", "worked", "works", "helped", "sorted", "fixed", "all", "good", "now", "many", "again", "for", "the", "help"}
_HELLO = {"hi", "hello", "hey", "hiya", "morning", "good", "afternoon", "evening", "there", "yo", "howdy", "pacsbot", "bot",
          "anyone", "you"}
_BYE = {"bye", "goodbye", "later", "see", "ya", "you", "night", "goodnight", "cya"}
_OK = {"ok", "okay", "k", "kk", "fine", "cool", "alright", "right", "got", "it", "understood", "noted", "sure", "yes", "yep",
       "no", "nope", "np", "lol", "haha"}

GREETING = ("Hi! Ask me a question about PACS in plain words, like “how do I hang a prior?”, "
            "or type `/pacs help` to see everything I can do.")
WELCOME = "You're welcome! Ask me any time — and if something is still wrong, `/pacs report` gets the PACS team on it."
BYE = "Bye for now — I'm here whenever you need the PACS manuals or the PACS team."
OK = "Good. Ask me anything about PACS when you need to."


def small_talk(text: str) -> str | None:
    """A kind reply when ``text`` is only a greeting, thanks, goodbye or an acknowledgement; else None."""
    words = _WORDS.findall(text.lower().replace("’", "'"))
    if not words:  # only emoji or punctuation: "👍", ":)", "?"
        stripped = text.strip()
        return OK if stripped and len(stripped) <= 12 and "?" not in stripped else (GREETING if stripped == "?" else None)
    if len(words) > 8:
        return None
    bag = set(words)
    if bag & {"thanks", "thank", "thx", "ty", "cheers", "ta", "tysm", "thankyou", "appreciated", "appreciate"} and bag <= _THANKS:
        return WELCOME
    if bag & {"bye", "goodbye", "cya", "goodnight"} and bag <= _BYE | _THANKS:
        return BYE
    if bag <= _HELLO and bag & {"hi", "hello", "hey", "hiya", "morning", "afternoon", "evening", "yo", "howdy"}:
        return GREETING
    if bag <= _OK and len(words) <= 3:
        return OK
    return None
