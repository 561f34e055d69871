"""Build the name lists the ``person_name`` detector ships (src/crashveil/redact/detectors/data/).

Run: ``python scripts/build_redact_names.py`` (needs Faker, a ``dev`` dependency).

The first names and surnames come from Faker's person providers (MIT licence; see NOTICE
beside the data), all locales, split into single tokens, case-folded. Dropped: tokens of
fewer than two letters, name particles (van, de, al ...), and tokens that are common words of
program text (``STOP`` below and the capitalised words that occur most in the Python
standard library's own source), so that "Max Retries" or "Will Retry" are not taken for a name.
Each list is written sorted, one token a line, gzip-compressed (the detector loads it lazily).
"""

from __future__ import annotations

import gzip
import importlib
import pkgutil
import re
import sysconfig
import warnings
from collections import Counter
from pathlib import Path

from faker import Faker

OUT = Path(__file__).resolve().parents[1] / "src" / "crashveil" / "redact" / "detectors" / "data"
PARTICLES = {"van", "de", "der", "den", "da", "das", "do", "dos", "di", "du", "del", "della", "la", "le", "von",
             "zu", "al", "el", "bin", "ben", "ibn", "abu", "mc", "mac", "st", "ter", "ten", "op", "y", "e", "i"}
# Common words of crash text that are also someone's name somewhere.
STOP = set(['able', 'access', 'action', 'active', 'add', 'admin', 'after', 'again', 'agent', 'alert', 'all',
    'allow', 'alpha', 'amber', 'an', 'and', 'angel', 'any', 'app', 'apple', 'april', 'archive', 'are', 'area',
    'art', 'artist', 'august', 'auto', 'autumn', 'back', 'bad', 'baker', 'ball', 'bank', 'banks', 'base', 'batch',
    'beat', 'bell', 'best', 'beta', 'big', 'bill', 'bird', 'black', 'blanc', 'block', 'blue', 'bond', 'boot',
    'born', 'bot', 'bottom', 'box', 'branch', 'brand', 'bright', 'brown', 'buffer', 'bug', 'build', 'bush', 'by',
    'cache', 'call', 'can', 'cancel', 'card', 'care', 'carter', 'case', 'cash', 'chance', 'change', 'chase',
    'check', 'child', 'christian', 'city', 'claim', 'clay', 'clean', 'clear', 'client', 'close', 'cloud', 'code',
    'cole', 'config', 'cook', 'cool', 'cooper', 'core', 'cost', 'count', 'cross', 'crown', 'cue', 'data', 'date',
    'dawn', 'day', 'dean', 'dear', 'default', 'delta', 'den', 'design', 'dev', 'diamond', 'do', 'don', 'door',
    'down', 'drake', 'drive', 'duke', 'dust', 'early', 'east', 'easy', 'echo', 'edge', 'elder', 'ember', 'end',
    'entry', 'error', 'event', 'ever', 'fair', 'faith', 'fall', 'false', 'field', 'file', 'fine', 'fisher', 'flag',
    'flash', 'fleet', 'flow', 'fly', 'ford', 'fork', 'fox', 'frank', 'free', 'friday', 'from', 'frost', 'full',
    'gale', 'game', 'gate', 'gay', 'gem', 'general', 'gift', 'glass', 'globe', 'gold', 'golden', 'good', 'grace',
    'grand', 'grant', 'gray', 'green', 'grey', 'guy', 'hall', 'hand', 'happy', 'hard', 'harmony', 'head', 'heart',
    'heath', 'hill', 'holly', 'home', 'honey', 'hope', 'host', 'house', 'hunt', 'hunter', 'ice', 'id', 'ii', 'iii',
    'in', 'index', 'info', 'it', 'ivory', 'ivy', 'jade', 'java', 'jay', 'job', 'joy', 'july', 'june', 'just',
    'key', 'kid', 'kind', 'king', 'knight', 'lake', 'lamb', 'land', 'lane', 'large', 'last', 'law', 'lead', 'lee',
    'left', 'less', 'level', 'lewis', 'light', 'like', 'lily', 'line', 'link', 'list', 'little', 'live', 'local',
    'lock', 'long', 'lord', 'love', 'low', 'luck', 'lucky', 'mail', 'main', 'major', 'march', 'mark', 'marsh',
    'mason', 'master', 'max', 'may', 'meadow', 'merry', 'message', 'mill', 'miller', 'mint', 'miss', 'mode',
    'model', 'monday', 'moon', 'moss', 'more', 'most', 'much', 'name', 'nash', 'new', 'news', 'next', 'night',
    'noble', 'none', 'north', 'not', 'note', 'nova', 'now', 'null', 'ok', 'old', 'one', 'open', 'orange', 'order',
    'page', 'palm', 'park', 'parker', 'part', 'pass', 'path', 'patch', 'peace', 'pearl', 'penny', 'person', 'pink',
    'plain', 'play', 'plus', 'poll', 'port', 'porter', 'post', 'power', 'pray', 'price', 'prime', 'queue', 'quick',
    'rain', 'ram', 'range', 'ray', 'read', 'ready', 'real', 'record', 'red', 'reed', 'rest', 'rich', 'ring',
    'river', 'rivers', 'rock', 'root', 'rose', 'round', 'row', 'ruby', 'run', 'rush', 'sage', 'sale', 'salt',
    'same', 'sand', 'saturday', 'say', 'school', 'scott', 'sea', 'season', 'send', 'server', 'service', 'set',
    'shade', 'sharp', 'shell', 'short', 'show', 'side', 'silver', 'sky', 'small', 'smart', 'snow', 'so', 'song',
    'south', 'spring', 'stable', 'staff', 'star', 'start', 'state', 'status', 'steel', 'step', 'sterling', 'stock',
    'stone', 'storm', 'story', 'strong', 'summer', 'sun', 'sunday', 'sunny', 'swift', 'table', 'tag', 'task',
    'test', 'the', 'thursday', 'time', 'top', 'tower', 'town', 'trace', 'tree', 'true', 'trust', 'tuesday',
    'turner', 'union', 'unit', 'up', 'user', 'value', 'van', 'version', 'view', 'villa', 'violet', 'walker',
    'wall', 'ward', 'warm', 'water', 'way', 'wednesday', 'week', 'weeks', 'well', 'west', 'white', 'will', 'win',
    'wind', 'winter', 'wise', 'wolf', 'wood', 'woods', 'word', 'work', 'worth', 'yard', 'year', 'young', 'zero'])


def _tokens(name: str) -> list[str]:
    out = []
    for tok in re.split(r"[\s\-]+", name.casefold()):
        tok = tok.strip(".'’")
        letters = tok.replace("'", "").replace("’", "")
        if len(tok) >= 2 and tok not in PARTICLES and letters.isalpha():
            out.append(tok)
    return out


def _stdlib_words() -> set[str]:
    """Capitalised words that occur 30+ times in the standard library's source (docstrings, messages)."""
    counts: Counter[str] = Counter()
    for path in Path(sysconfig.get_paths()["stdlib"]).rglob("*.py"):
        if "test" in path.parts or "site-packages" in path.parts:
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        counts.update(w.casefold() for w in re.findall(r"\b[A-Z][a-z]{1,}\b", text))
    return {w for w, n in counts.items() if n >= 30}


def collect() -> tuple[set[str], set[str]]:
    import faker.providers.person as person

    first: set[str] = set()
    last: set[str] = set()
    for mod in pkgutil.iter_modules(person.__path__):
        importlib.import_module(f"faker.providers.person.{mod.name}")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            f = Faker(mod.name)
        provider = next(p for p in f.providers if type(p).__module__.startswith("faker.providers.person"))
        for attr, into in (("first_names", first), ("first_names_male", first), ("first_names_female", first),
                           ("last_names", last), ("last_names_male", last), ("last_names_female", last)):
            values = getattr(provider, attr, ())
            for v in (list(values) if isinstance(values, (dict, list, tuple, set)) else []):
                into.update(_tokens(str(v)))
    return first, last


def main() -> None:
    first, last = collect()
    stop = STOP | _stdlib_words()
    first -= stop
    last -= stop
    OUT.mkdir(parents=True, exist_ok=True)
    for name, words in (("first_names.txt.gz", first), ("last_names.txt.gz", last)):
        data = ("\n".join(sorted(words)) + "\n").encode("utf-8")
        (OUT / name).write_bytes(gzip.compress(data, 9, mtime=0))
        print(f"{name}: {len(words)} names, {len((OUT / name).read_bytes())} bytes")


if __name__ == "__main__":
    main()
