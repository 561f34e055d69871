"""Street address detector (``street_address``): house number + street, unit, postcode and city.

Three shapes of street line, each found from its house number:

- number first, then capitalised name words and a street suffix (English: ``141 Hodges
  Mountains``, ``9 Elm St.``); a suffix that is also a common word (``Point``, ``View``,
  ``Port``) needs a listed name before it (``12 Jones Point``), so ``2 Open Ports`` stays;
- number first, then a street type (French, ``214, avenue Charlotte Gilles``, ``3 bis rue de la Paix``);
- a street type and name words, then the number (``Calle Mayor 5``, ``Via Roma, 12``, ``ulica
  Długa 7``, ``Rua das Flores, 8``), or one compound word with a street suffix, then the number
  (``Hauptstraße 5a``, ``Storgatan 77``, ``Lucasboulevard 7``, ``Jens-Drubin-Straße 47-26``).

After the street line: a unit (``Apt. 4``, ``Suite 200``, ``#12``, ``Piso 3``, ``2. OG``) and a
postcode with its city in either order (``, 75008 Paris``, ``, Springfield, IL 62704``,
``, London SW1A 1AA``). The whole address becomes ``<address>``. Not found: addresses without a
house number, and street names alone.
"""

from __future__ import annotations

from typing import Any

from crashveil.redact.detector import PATTERNS as _P, Clause, Ctx, Detector, merge, splice

# English street suffixes (USPS, Royal Mail, Australia Post) that are not also common words of program text.
_EN_SUFFIXES = frozenset(['street', 'st', 'str', 'avenue', 'ave', 'av', 'road', 'rd', 'boulevard', 'blvd', 'lane',
    'ln', 'drive', 'dr', 'court', 'ct', 'place', 'pl', 'terrace', 'ter', 'terr', 'crescent', 'cres', 'parkway',
    'pkwy', 'highway', 'hwy', 'circle', 'cir', 'square', 'sq', 'trail', 'trl', 'alley', 'aly', 'close', 'cl',
    'gardens', 'gdns', 'grove', 'gr', 'mews', 'row', 'walk', 'wy', 'way', 'esplanade', 'parade', 'pde',
    'promenade', 'quay', 'heights', 'hts', 'hollow', 'manor', 'mount', 'mountain', 'mountains', 'meadow',
    'meadows', 'ridge', 'ridges', 'vista', 'valley', 'vale', 'glen', 'dell', 'cove', 'creek', 'brook', 'brooks',
    'canyon', 'causeway', 'crossing', 'expressway', 'freeway', 'turnpike', 'pike', 'plaza', 'plains', 'plain',
    'prairie', 'ranch', 'springs', 'summit', 'terrace', 'thoroughfare', 'bypass', 'byway', 'loop', 'lodge',
    'knoll', 'knolls', 'harbor', 'harbour', 'haven', 'hills', 'hill', 'isle', 'island', 'islands', 'lake', 'lakes',
    'landing', 'meander', 'orchard', 'overpass', 'pines', 'shoal', 'shoals', 'shore', 'shores', 'stravenue',
    'stream', 'trace', 'underpass', 'viaduct', 'villa', 'villas', 'village', 'ville', 'wynd', 'brae', 'circus',
    'boulevarde', 'crest', 'forest', 'fork', 'forks', 'fort', 'garden', 'glade', 'grange', 'greens', 'motorway',
    'villages', 'manors', 'pine', 'pines', 'groves', 'hollows', 'crescents', 'avenues', 'roads', 'streets',
    'drives', 'courts', 'lanes', 'terraces', 'gardens', 'hills', 'vistas', 'coves', 'creeks', 'dells', 'glens',
    'meadows', 'parkways', 'plazas', 'ridges', 'trails', 'estates', 'amble', 'approach', 'arcade', 'boulevard',
    'brow', 'chase', 'circuit', 'copse', 'crossway', 'cul-de-sac', 'dip', 'drive', 'esplanade', 'fairway',
    'foreshore', 'frontage', 'glen', 'highroad', 'loop', 'mall', 'mews', 'nook', 'outlook', 'parade', 'quadrant',
    'ramble', 'retreat', 'ridgeway', 'riviera', 'rotary', 'row', 'serviceway', 'strand', 'terrace', 'thoroughfare',
    'upper', 'lower', 'throughway', 'tollway', 'piazza'])
# Suffixes that are also common words: only after a listed name ("Jones Point", not "2 Open Ports").
_EN_RISKY = frozenset(['point', 'points', 'view', 'views', 'port', 'ports', 'key', 'keys', 'line', 'lines', 'link',
    'links', 'lock', 'locks', 'gate', 'gates', 'field', 'fields', 'step', 'steps', 'ways', 'falls', 'track',
    'tracks', 'range', 'ranges', 'union', 'unions', 'part', 'parts', 'path', 'center', 'centre', 'common',
    'corner', 'corners', 'course', 'cross', 'end', 'entrance', 'extension', 'front', 'gap', 'green', 'ground',
    'junction', 'land', 'light', 'lights', 'mall', 'mill', 'mills', 'mission', 'park', 'parks', 'pass', 'passage',
    'rest', 'ride', 'rise', 'river', 'round', 'route', 'run', 'station', 'spur', 'spurs', 'trafficway', 'tunnel',
    'turn', 'well', 'wells', 'estate', 'estates', 'bend', 'branch', 'bridge', 'burg', 'camp', 'cape', 'club',
    'cliff', 'cliffs', 'creek', 'curve', 'dale', 'dam', 'divide', 'edge', 'fall', 'ferry', 'flat', 'flats',
    'follow', 'ford', 'fords', 'forge', 'forges', 'harbors', 'inlet', 'lane', 'lanes', 'neck', 'oval', 'pocket',
    'ports', 'radial', 'ramp', 'rapid', 'rapids', 'reach', 'reserve', 'ridge', 'sound', 'spring', 'square',
    'squares', 'stairs', 'strip', 'tarn', 'top', 'tor', 'towers', 'trailer', 'vale', 'wall', 'walks', 'wade',
    'break', 'crossroad', 'cutting', 'deviation', 'distributor', 'elbow', 'formation', 'freeway', 'gully',
    'interchange', 'intersection', 'junctions', 'lookout', 'mount', 'overpass', 'pathway', 'pocket', 'via', 'quad',
    'ramble', 'shoal', 'siding', 'skyway', 'slope', 'subway', 'trunkway', 'underpass', 'wharf'])
# Street types that stand before the name (case-sensitive capitalised forms are matched case-insensitively below).
_TYPES_BEFORE = frozenset(['calle', 'c/', 'avenida', 'avda', 'av.', 'plaza', 'paseo', 'camino', 'carrera',
    'callejón', 'ronda', 'glorieta', 'pasaje', 'travesía', 'rambla', 'urbanización', 'cañada', 'alameda', 'acceso',
    'cuesta', 'pasadizo', 'carretera', 'vial', 'via', 'viale', 'piazza', 'piazzale', 'corso', 'contrada', 'vicolo',
    'borgo', 'strada', 'largo', 'rotonda', 'vico', 'rua', 'travessa', 'praça', 'estrada', 'rodovia', 'fazenda',
    'campo', 'vila', 'ladeira', 'quadra', 'conjunto', 'passeio', 'ulica', 'ul.', 'aleja', 'al.', 'plac', 'pl.',
    'osiedle', 'os.', 'rue', 'avenue', 'boulevard', 'bd', 'allée', 'impasse', 'chemin', 'place', 'quai', 'route',
    'square', 'cours', 'passage', 'ул.', 'улица', 'пер.', 'переулок', 'пр.', 'проспект', 'бул.', 'бульвар', 'ш.',
    'шоссе', 'пл.', 'наб.', 'проезд', 'incrocio', 'canale', 'stretto', 'parque', 'loteamento', 'condomínio',
    'trecho', 'feira', 'morro', 'estação', 'aeroporto', 'setor', 'vereda', 'viela', 'lagoa', 'chácara', 'sítio',
    'núcleo', 'residencial', 'distrito', 'colônia', 'jardim', 'recanto', 'rodovia', 'passarela', 'avenida',
    'travesía', 'puerta'])
# Types that may be written in lower case (they rarely open anything else).
_LOWER_TYPES = frozenset({"ulica", "ul.", "aleja", "al.", "plac", "osiedle", "rue", "avenue", "boulevard", "allée",
                          "impasse", "chemin", "quai", "route", "cours", "calle", "avenida", "rua", "travessa",
                          "ул.", "улица", "пер.", "переулок", "пр.", "проспект", "бул.", "бульвар", "ш.", "шоссе",
                          "наб.", "проезд", "pl.", "os.", "via", "viale", "piazza", "contrada", "vicolo", "strada",
                          "corso"})
# Suffixes of one compound word that names a street (German, Dutch, Nordic).
_COMPOUND = ("straße", "strasse", "str.", "weg", "gasse", "platz", "allee", "ring", "damm", "ufer", "steig", "pfad",
             "chaussee", "markt", "gatan", "vägen", "väg", "torget", "gränd", "backe", "stigen", "straat", "laan",
             "plein", "gracht", "kade", "singel", "dijk", "hof", "steeg", "boulevard", "vej", "gade", "veien",
             "vegen", "gata", "vei", "pad", "dreef", "erf", "tie", "katu", "kuja", "polku", "utca", "ulice", "náměstí")
_COMPOUND_STOP = frozenset({"string", "spring", "keyring", "substring", "offspring", "bring", "during", "ring", "hof",
                            "wrong", "strong", "notepad", "keypad", "touchpad", "trackpad", "numpad", "launchpad",
                            "gamepad", "scratchpad", "ipad", "pad", "dreef", "erf", "bytering", "scoring", "tostring",
                            "monitoring", "clustering",
                            "weg", "tie", "docstring", "bytestring", "querystring", "gradle", "allee", "markt",
                            "sublaan", "kade", "gata", "vei"})
_PARTICLES = frozenset({"de", "del", "dela", "de la", "la", "le", "les", "du", "des", "di", "da", "do", "dos", "das",
                        "della", "delle", "dei", "degli", "van", "von", "der", "den", "het", "y", "e", "of", "the",
                        "d'", "l'", "bis", "ter", "am", "an", "auf", "im", "in", "zum", "zur"})


def _word_ok(w: str) -> bool:
    """A word of a street name: capitalised, a particle, or a number (``5th``, ``3 de Maio``)."""
    return w[:1].isupper() or w.casefold() in _PARTICLES or w[:1].isdigit() or w.startswith(("d'", "l'", "d’", "l’"))


def _named(words: list[str]) -> bool:
    """The words after a street type hold a capitalised name after at most three particles
    (``rue de la Paix``, ``rue d'Alsace``, ``avenue Foch``)."""
    for w in words[:4]:
        if w[:1].isupper() or (w[:2] in ("d'", "l'", "d’", "l’") and w[2:3].isupper()):
            return True
        if w.casefold() not in _PARTICLES:
            return False
    return False


def _number_first(text: str, e: int) -> int:
    """End of a street line after the house number ending at ``e`` (``-1``: none)."""
    m = _P.addr_words_after.match(text, e)
    if m is None:
        return -1
    words = m.group("w").split()
    if not words:
        return -1
    first = words[0].casefold()
    # "3 rue de la Paix"; a capitalised type only before a particle ("10 Avenue des Ternes", not "4 Route Guards")
    if first in _TYPES_BEFORE and len(words) >= 2 and (
            first in _LOWER_TYPES and words[0][0].islower() or words[1].casefold() in _PARTICLES):
        k = 1
        while k < len(words) and _word_ok(words[k]) and k <= 5:
            k += 1
        if k >= 2 and _named(words[1:k]):
            return _end_of(text, m.start("w"), words[:k])
    from crashveil.redact.detectors.people import names

    for k in range(1, min(len(words), 5)):
        suffix = words[k].casefold().rstrip(".")
        name_words = words[:k]
        if not all(_word_ok(w) for w in name_words) or not name_words[0][:1].isupper():
            break
        if suffix in _EN_SUFFIXES and words[k][0].isupper():
            end = _end_of(text, m.start("w"), words[:k + 1])
            d = _P.addr_direction.match(text, end)
            return end if d is None else d.end()
        if suffix in _EN_RISKY and words[k][0].isupper():
            end = _end_of(text, m.start("w"), words[:k + 1])
            if _tail(text, end) > end or any(w.casefold() in names("last") or w.casefold() in names("first")
                                             for w in name_words):
                return end
    return -1


def _end_of(text: str, start: int, words: list[str]) -> int:
    """The end of ``words`` (split on single blanks) read from ``start``."""
    pos = start
    for w in words:
        pos = text.index(w, pos) + len(w)
    return pos


def _number_after(text: str, s: int) -> int:
    """Start of a street line whose house number starts at ``s`` (``-1``: none): a capitalised
    compound street word (``Storgatan 77``) or a street type and name words (``Calle Mayor 5``)
    just before it, read back word by word."""
    window = _P.addr_boundary.split(text[max(0, s - 80):s])[-1]
    if not window.endswith(" "):
        return -1
    words = window.split(" ")[:-1]
    if len(words) > 1 and _P.addr_marker.fullmatch(words[-1]):
        words = words[:-1]  # "No. 5", "д. 2"
    if not words or not words[-1][:1].isupper():
        return -1
    last = words[-1].rstrip(",")
    low = last.casefold()
    pos = s - len(window) + len(" ".join(words[:-1])) + (1 if len(words) > 1 else 0)
    if low.endswith(_COMPOUND) and low not in _COMPOUND_STOP:
        suffix = next(x for x in _COMPOUND if low.endswith(x))
        if len(low) >= len(suffix) + 2 or "-" in low:
            return pos
    for k in range(len(words) - 2, max(-1, len(words) - 8), -1):
        w = words[k]
        lw = w.casefold()
        if lw in _TYPES_BEFORE and (w[:1].isupper() or lw in _LOWER_TYPES):
            if all(x and _word_ok(x.rstrip(",")) for x in words[k + 1:]):
                return s - len(window) + len(" ".join(words[:k])) + (1 if k else 0)
            return -1
        if not w or not _word_ok(w.rstrip(",")):
            return -1
    return -1


def street_address(text: str, ctx: Ctx) -> str:
    """Street addresses with a house number, their unit, postcode and city (see the module docs)."""
    spans: list[tuple[int, int, str]] = []
    ph = ctx.ph["street_address"]
    for m in _P.addr_number.finditer(text):
        s, e = m.span()
        if spans and s < spans[-1][1]:
            continue
        start, end = s, _number_first(text, e)
        if end < 0:
            start = _number_after(text, s)
            if start < 0:
                continue
            end = e
        end = _tail(text, end)
        head = _P.addr_unit_before.search(text, max(0, start - 24), start)
        if head is not None:
            start = head.start()
        spans.append((start, end, ph))
    if not spans:
        return text
    merged = merge(spans)
    ctx.hit("street_address", len(merged))
    return splice(text, merged)


def _tail(text: str, end: int) -> int:
    """The end of the address after its street line: unit, then postcode and city (either order)."""
    m = _P.addr_unit.match(text, end)
    if m is not None:
        end = m.end()
    m = _P.addr_post.match(text, end)
    if m is not None:
        end = m.end()
    return end


def _addr_patterns() -> dict[str, Any]:
    import re

    c = re.compile
    cap = r"[^\W\d_][\w'’.\-]*+"
    postcode = (r"(?:[0-9]{5}(?:-[0-9]{3,4})?|[0-9]{8}|[0-9]{2}-[0-9]{3}|[0-9]{3} [0-9]{2}"
                r"|[0-9]{4}(?: ?[A-Z]{2}(?![\w]))?"
                r"|[A-Z]{1,2}[0-9][A-Z0-9]? ?[0-9][A-Z]{2}|[A-Z][0-9][A-Z] ?[0-9][A-Z][0-9])(?![\w\-])")
    city_word = r"[^\W\d_](?:[\w.\-]|['’](?=\w))*+"  # Genève, Saint-Ouen, L'Aquila
    city = city_word + r"(?: " + city_word + r"){0,3}?"
    return {
        # a house number: 1-5 digits, a letter, a range or a flat ("47-26", "22/47", "5a")
        "addr_number": c(r"(?<![\w.\-/:#@$%+])[0-9]{1,5}(?:[a-zA-Z](?![\w]))?(?:[\-/][0-9]{1,4}[a-zA-Z]?)?"
                         r"(?![\w/%@\-]|[.:][\w]|,[0-9])"),
        "addr_unit_before": c(r"(?<![\w])(?:Flat|Apartment|Apt\.?|Studio|Unit|Level|Suite|Room)"
                              r" (?:[0-9]{1,4}[A-Za-z]?,? )?\Z"),
        "addr_words_after": c(r",? (?:(?:bis|ter|b) )?(?P<w>" + cap + r"(?: " + cap + r"){0,5})"),
        "addr_direction": c(r" (?:NW|NE|SW|SE|N|S|E|W)\b"),
        "addr_boundary": c(r"[(\[{=:;\"'\n\t<>|]"),
        "addr_marker": c(r"№|n[°º]\.?|No\.?|д\."),
        "addr_unit": c(r",? (?:(?i:apt\.?|apartment|suite|ste\.?|unit|flat|piso|piano|etage|wohnung|app\.?|appt\.?"
                       r"|bte|floor|fl\.?|room|rm\.?|lgh|kv\.?|кв\.?|puerta|escalera|planta|bajo|interno|int\.|scala|sc\."
                       r"|appartamento)\ ?#?"
                       r"[0-9][0-9A-Za-z\-]*+ ?|#[0-9][0-9A-Za-z\-]*+"
                       r"|[0-9]{1,2}\. (?:OG|Etage|Stock))"),
        "addr_post": c(r"(?:,? " + postcode + r"(?:,? " + city + r"(?= \(|[,.;:!?)\"'\n]|\Z))?"
                       r"|,? " + city + r",? (?:[A-Z]{2,3},? )?" + postcode + ")"),
        # gates, on the class map: a house number then a name (number first, g_addr_num), or a
        # capitalised word then a house number (number after, g_addr_word); each starts at a number
        # or a word, never inside one ("A" * 1M is one attempt, not a million). Two searches that
        # start at a literal or a class of their own cost less than one alternation, and each has
        # a cheap test first: a capital or non-ASCII letter, a blank before a digit.
        "g_addr_num": c(rb"0(?<![0Aa_.\-/:#@$%+]0)0{0,4}+[aA]?+(?:[\-/]0{1,4}+[aA]?+)?+,?+ (?:(?:a|aaa) )?"
                        rb"(?:[A\x80]|[a\x80]{2,24}\.? (?:[a\x80]{1,10} ){0,3}(?:a(?:'|\x80{3}))?[A\x80])"),
        "g_addr_word": c(rb"[A\x80](?<![0Aa_.\-\x80][A\x80])[0Aa_'.\-\x80]*+,? (?:[Aa\x80]{1,4}\.? )?0"),
    }


DETECTORS = (
    Detector("street_address", 1750, street_address, "<address>", _addr_patterns, messages_only=True,
             trigger=(Clause(needs=" 0", has_map=(b"A", b"\x80"), search_map=("g_addr_num",)),
                      Clause(needs=" 0", has_map=(b" 0",), search_map=("g_addr_word",)))),
)
