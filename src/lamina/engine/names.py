"""Container names: docker's grammar, and ``adjective_surname`` names made up when none is given.

The surnames are of scientists and engineers, as docker's are; the lists are our own.
"""

from __future__ import annotations

import os
import re
from collections.abc import Collection
from random import SystemRandom

from lamina.errors import InvalidArgument

NAME_RE = re.compile(r"/?[a-zA-Z0-9][a-zA-Z0-9_.-]+")

ADJECTIVES = (
    "admiring", "adoring", "affectionate", "agitated", "amazing", "angry", "awesome",
    "beautiful", "blissful", "bold", "brave", "busy", "charming", "clever", "compassionate",
    "competent", "confident", "cool", "cranky", "crazy", "dazzling", "determined", "distracted",
    "dreamy", "eager", "ecstatic", "elastic", "elated", "elegant", "eloquent", "epic",
    "exciting", "fervent", "festive", "flamboyant", "focused", "friendly", "frosty", "funny",
    "gallant", "gifted", "goofy", "gracious", "great", "happy", "hardcore", "heuristic",
    "hopeful", "hungry", "infallible", "inspiring", "intelligent", "interesting", "jolly",
    "jovial", "keen", "kind", "laughing", "loving", "lucid", "magical", "modest", "musing",
    "mystifying", "naughty", "nervous", "nice", "nifty", "nostalgic", "objective", "optimistic",
    "peaceful", "pedantic", "pensive", "practical", "priceless", "quirky", "quizzical",
    "relaxed", "reverent", "romantic", "sad", "serene", "sharp", "silly", "sleepy", "stoic",
    "strange", "stupefied", "suspicious", "sweet", "tender", "thirsty", "trusting", "upbeat",
    "vibrant", "vigilant", "vigorous", "wizardly", "wonderful", "xenodochial", "youthful",
    "zealous", "zen",
)
SURNAMES = (
    "agnesi", "albattani", "allen", "almeida", "archimedes", "ardinghelli", "babbage",
    "bardeen", "bartik", "bassi", "bell", "benz", "bhabha", "blackwell", "bohr", "booth",
    "borg", "bose", "brahmagupta", "brattain", "brown", "carson", "cerf", "chandrasekhar",
    "curie", "darwin", "davinci", "dijkstra", "driscoll", "easley", "einstein", "elion",
    "engelbart", "euclid", "euler", "faraday", "fermat", "fermi", "feynman", "franklin",
    "galileo", "gauss", "goldberg", "goodall", "hamilton", "hawking", "heisenberg", "hermann",
    "hodgkin", "hopper", "hypatia", "jackson", "jennings", "johnson", "kalam", "kepler",
    "khorana", "knuth", "kowalevski", "lalande", "lamarr", "leakey", "leavitt", "lovelace",
    "lumiere", "margulis", "mayer", "mccarthy", "mcclintock", "meitner", "mendel", "mirzakhani",
    "morse", "napier", "newton", "nightingale", "nobel", "noether", "pascal", "pasteur",
    "payne", "perlman", "pike", "poincare", "ramanujan", "ride", "ritchie", "roentgen",
    "rosalind", "sammet", "shannon", "shockley", "sinoussi", "stonebraker", "swanson",
    "tesla", "thompson", "torvalds", "turing", "villani", "volhard", "wescoff", "wiles",
    "williams", "wilson", "wing", "wozniak", "wright", "yalow", "yonath",
)


def validate_name(name: str) -> str:
    """The name without docker's optional leading "/"; InvalidArgument when malformed."""
    if not NAME_RE.fullmatch(name):
        raise InvalidArgument(
            f"Invalid container name ({name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
        )
    return name.removeprefix("/")


# secrets' own generator, without importing secrets (hmac, and through it OpenSSL)
_random = SystemRandom()


def generate_name(taken: Collection[str]) -> str:
    """A free ``adjective_surname`` (docker's "boring_wozniak" is never chosen either)."""
    for attempt in range(64):
        name = f"{_random.choice(ADJECTIVES)}_{_random.choice(SURNAMES)}"
        if attempt >= 8:
            name += str(_random.randrange(10))  # crowded: add a digit, as docker does
        if name not in taken and name != "boring_wozniak":
            return name
    return f"{_random.choice(ADJECTIVES)}_{os.urandom(4).hex()}"
