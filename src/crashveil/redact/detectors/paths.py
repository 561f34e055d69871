"""Path detectors: the user name of a home directory, the host of a UNC path."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from crashveil.redact.detector import PATTERNS as _P, Clause, Ctx, Detector, splice

if TYPE_CHECKING:
    import re

# Windows home folders in any case ("Users", "Documents and Settings").
WIN_DIRS = (r"(?:[Uu][Ss][Ee][Rr][Ss]"
            r"|[Dd][Oo][Cc][Uu][Mm][Ee][Nn][Tt][Ss] [Aa][Nn][Dd] [Ss][Ee][Tt][Tt][Ii][Nn][Gg][Ss])")
# After a drive letter's ":", a separator and a home folder (the "g_drive" pattern without its ":").
_DRIVE_HOME = r"(?<=[A-Za-z]:)(?:\\\\|[\\/])(?:" + WIN_DIRS[3:-1] + ")"


def home_path(text: str, ctx: Ctx) -> str:
    """The user name of a home directory; the path keeps its shape (``/home/ann/x`` -> ``~/x``).

    Three passes, each behind a substring gate: drive-rooted Windows homes (``C:\\Users\\Ann``,
    any case, ``/`` or ``\\`` or escaped ``\\\\``) become ``~``; POSIX homes (``/home/ann``,
    ``/Users/ann``, ``/var/home/ann``, ``/mnt/c/Users/ann``) become ``~`` at the start of a
    path and keep their shape with ``<user>`` when nested (``/data/home/<user>``), but not
    inside URLs; any other ``\\Users\\Ann`` (UNC shares, WSL) keeps its shape with ``<user>``.
    """
    n = 0
    if "~" in text:  # first, so the "~" this detector writes is not looked at again
        text, k = _P.tilde_user.subn("~", text)
        n += k
    if ":\\" in text or ":/" in text:
        spans = [(m.start() - 1, m.end(), "~") for m in _P.home_win.finditer(text)]
        if spans:
            n += len(spans)
            text = splice(text, spans)
    if "/home/" in text or "/Users/" in text:
        text, k = _P.home_posix_root.subn("~", text)
        n += k
        if k == 0 or "/home/" in text or "/Users/" in text:
            text, k = _home_nested(_P.home_posix_nested, text, ctx.ph["home_path"], True)
            n += k
    if "\\" in text and ("sers" in text or "SERS" in text or "home" in text or "ettings" in text):
        text, k = _home_nested(_P.home_backslash, text, ctx.ph["home_path"], False)
        n += k
    if "pytest-of-" in text:
        text, k = _home_nested(_P.pytest_of, text, ctx.ph["home_path"], False)
        n += k
    if n:
        ctx.hit("home_path", n)
    return text


def _home_nested(rx: Any, text: str, ph: str, posix: bool) -> tuple[str, int]:
    """``rx.sub`` keeping the path's shape: the ``user`` group becomes ``ph``; for ``posix``
    not inside a URL. Returns the new text and the number of user names replaced."""
    n = 0

    def nested(m: re.Match[str]) -> str:
        nonlocal n
        if posix:
            s = m.start()
            j = text.rfind("://", max(0, s - 256), s)
            if j >= 0 and len(text[j:s].split(None, 1)) == 1:
                return m.group()  # a URL path: https://example.org/home/about
        n += 1
        return m.group()[: m.start("user") - m.start()] + ph

    return rx.sub(nested, text), n


def _home_patterns() -> dict[str, Any]:
    """Windows drive roots, POSIX roots, and other backslash homes (UNC, WSL)."""
    import re

    c = re.compile
    win_dirs = WIN_DIRS
    # a user folder: to the next separator, the end or a closing quote (blanks and an apostrophe
    # inside: "Anne O'Neil"), or a run without blanks
    name = (r"""(?P<user>[^\\/\x00-\x1f:*?"<>|`]{1,64}?(?=[\\/]|\Z|['"`](?!\w))"""
            r"""|[^\\/\s:*?"<>|'`;,()\[\]{}=]++)""")
    posix = (r"(?:(?:var/|export/|usr/)?home/|(?:mnt/[a-z]/|cygdrive/[a-z]/|[a-z]/|System/Volumes/Data/)?Users/)"
             + name)
    return {
        # anchored on the literal ":" so the engine skips ahead; the drive letter is read back
        "home_win": c(r":(?<=(?<![A-Za-z0-9_])[A-Za-z]:)(?P<sep>\\\\|[\\/])" + win_dirs + r"(?P=sep)" + name),
        # at the root of a path ("~"), or nested in another folder or a URL (judged in Python)
        "home_posix_root": c(r"/(?<![A-Za-z0-9_.%~\-]/)" + posix),
        "home_posix_nested": c(r"/(?<=[A-Za-z0-9_.%~\-]/)" + posix),
        "home_backslash": c(r"(?P<sep>\\\\|\\)(?:" + win_dirs[3:-1] + r"|home)(?P=sep)" + name),
        "pytest_of": c(r"pytest-of-(?P<user>[^\\/\s'\"<>]++)"),
        "tilde_user": c(r"~(?<![\w~]~)(?P<user>[A-Za-z_][\w.\-]{0,31})(?=[\\/])"),
        # gates (see crashveil.redact.gates)
        "g_tilde": c(r"~[A-Za-z_]"),
        "g_drive": c(":" + _DRIVE_HOME),
        "g_backslash": c(r"\\(?:" + win_dirs[3:-1] + "|home)"),
    }


# Share or folder names under which a UNC path keeps one folder per user (``\\\\nas\\home$\\ann``).
HOME_SHARES = frozenset({"home", "homes", "home$", "homes$", "users", "users$", "userdata", "userdata$", "userhome",
                         "userhomes", "profiles", "profiles$", "profile", "roamingprofiles", "redirect", "redirected",
                         "redirection", "folderredirection", "folderredirections", "staff", "personal", "u$", "h$"})


def unc_path(text: str, ctx: Ctx) -> str:
    r"""The host of a UNC path: ``\\HOST\share\x`` -> ``\\<host>\share\x``; under a home share
    (:data:`HOME_SHARES`, at any depth) the user's folder too: ``\\<host>\home$\<user>\x``
    (a roaming profile's ``.V6`` stays)."""
    if "\\\\" not in text:
        return text
    spans = []
    user = ctx.ph["home_path"]
    for m in _P.unc.finditer(text):
        host = m.group("host")
        if host in (".", "?", "localhost", "wsl$", "wsl.localhost", "127.0.0.1") or host.startswith("<"):
            continue
        spans.append((m.start("host"), m.end("host"), ctx.ph["unc_path"]))
        rest = _P.unc_rest.match(text, m.end("host"))
        parts = _P.unc_part.findall(rest.group()) if rest.end() > m.end("host") else []
        pos = m.end("host")
        for i, (sep, part) in enumerate(parts[:5]):
            pos += len(sep)
            if i and parts[i - 1][1].casefold() in HOME_SHARES and not part.startswith("<"):
                name = part[:-3] if part[-3:-1] in (".V", ".v") and part[-1].isdigit() else part
                spans.append((pos, pos + len(name), user))
                break
            pos += len(part)
    if not spans:
        return text
    ctx.hit("unc_path", len(spans))
    return splice(text, spans)


def _unc_patterns() -> dict[str, Any]:
    """\\\\host\\share (also written with escaped backslashes)."""
    import re

    c = re.compile
    return {"unc": c(r"\\\\(?<![\w:\\~.$%/>\-]\\\\)(?:\\\\)?(?P<host>[^\\/\s:*?\"<>|',;]++)"),
            # the rest of a UNC path and its folders (a folder may hold blanks: "Ann Lee")
            "unc_rest": c(r"(?:(?:\\\\|\\)[^\\/\x00-\x1f:*?\"<>|'`]{1,64}+)*+"),
            "unc_part": c(r"(\\\\|\\)([^\\/\x00-\x1f:*?\"<>|'`]{1,64}+)")}


# Each home_path pass above needs one of these (the engine also tests them alone, before the
# first trigger scan: no class map, see crashveil.redact.gates.home_gate).
_HOME_TRIGGER = (
    Clause(has=("/home/",)),
    Clause(needs="A", has=("/Users/",)),
    Clause(needs="~", search=("g_tilde",)),
    Clause(scan=(":", _DRIVE_HOME), search=("g_drive",)),
    Clause(needs="\\", search=("g_backslash",)),
    Clause(scan=("-", "(?<=pytest-)of-"), has=("pytest-of-",)),
)

DETECTORS = (
    # "<user>", or "~" for the whole home prefix
    Detector("home_path", 100, home_path, "<user>", _home_patterns, trigger=_HOME_TRIGGER),
    Detector("unc_path", 200, unc_path, "<host>", _unc_patterns, trigger=(Clause(needs="\\", has=("\\\\",)),)),
)
