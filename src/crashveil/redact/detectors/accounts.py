"""Account detectors: login names in environment dumps, ``id`` output and process listings (``env_user``).

Found (the value becomes ``<user>``): ``USER=``, ``LOGNAME=``, ``USERNAME=``, ``SUDO_USER=``,
``LNAME=``, ``REMOTE_USER=``, ``PGUSER=`` (upper-case keys, ``=`` or ``:``, bare or quoted, as in
``env`` output and ``os.environ`` reprs); mail spools (``/var/mail/ann``); the names of ``id``
output (``uid=1000(ann) gid=1000(ann) groups=1000(ann),27(sudo)``); the user column of ``ps aux``
lines; and the name after ``as user``, ``process owner:``, ``effective user``, ``run as``.
Kept: service and system accounts (:data:`SYSTEM_ACCOUNTS`: ``root``, ``nobody``, ``www-data``,
``SYSTEM``, ``postgres`` ...), variables (``$USER``, ``%USERNAME%``) and placeholders. Home
folders (``HOME=``, ``USERPROFILE=``, ``PWD=``) are ``home_path``'s.
"""

from __future__ import annotations

from typing import Any

from crashveil.redact.detector import PATTERNS as _P, Clause, Ctx, Detector, merge, splice

SYSTEM_ACCOUNTS = frozenset(['root', 'nobody', 'nogroup', 'nfsnobody', 'daemon', 'bin', 'sys', 'sync', 'games',
    'man', 'lp', 'mail', 'news', 'uucp', 'proxy', 'www-data', 'www', 'http', 'httpd', 'apache', 'apache2', 'nginx',
    'caddy', 'backup', 'list', 'irc', 'gnats', 'systemd-network', 'systemd-resolve', 'systemd-timesync',
    'systemd-journal', 'messagebus', 'syslog', 'sshd', '_apt', 'uuidd', 'tcpdump', 'landscape', 'pollinate',
    'postgres', 'postgresql', 'mysql', 'mariadb', 'redis', 'mongodb', 'memcache', 'memcached', 'rabbitmq',
    'elasticsearch', 'kafka', 'zookeeper', 'node', 'app', 'appuser', 'application', 'service', 'svc', 'deploy',
    'deployer', 'ubuntu', 'ec2-user', 'centos', 'debian', 'admin', 'administrator', 'system', 'localsystem',
    'localservice', 'networkservice', 'jenkins', 'runner', 'gitlab-runner', 'github-runner', 'circleci', 'travis',
    'buildkite', 'build', 'builder', 'vagrant', 'docker', 'git', 'celery', 'uwsgi', 'gunicorn', 'django', 'flask',
    'guest', 'default', 'user', 'users', 'staff', 'sudo', 'adm', 'wheel', 'audio', 'video', 'plugdev', 'lpadmin',
    'dialout', 'cdrom', 'floppy', 'tape', 'disk', 'kmem', 'tty', 'netdev', 'sambashare', 'lxd', 'input', 'render',
    'kvm', 'ssl-cert', 'crontab', 'utmp', 'shadow', 'operator', 'ftp', 'halt', 'shutdown', 'tss', 'polkitd',
    'chrony', 'rpc', 'rpcuser', 'dbus', 'avahi', 'colord', 'cups', 'pulse', 'saned', 'geoclue'])
_KEEP_PREFIXES = ("$", "%", "<", "{")


def _keep(value: str) -> bool:
    v = value.strip("'\"")
    return not v or v.casefold() in SYSTEM_ACCOUNTS or v.startswith(_KEEP_PREFIXES) or v.casefold() in (
        "none", "null", "undefined", "true", "false")


def env_user(text: str, ctx: Ctx) -> str:
    """Login names in env dumps, mail spools, ``id`` output, ``ps`` lines and owner phrases."""
    ph = ctx.ph["env_user"]
    spans: list[tuple[int, int, str]] = []
    if "USER" in text or "LOGNAME" in text or "LNAME" in text:  # (eu_key: a tab may stand for "=")
        spans += [(m.start("v"), m.end("v"), ph) for m in _P.eu_key.finditer(text) if not _keep(m.group("v"))]
    if "/mail/" in text:
        spans += [(m.start("v"), m.end("v"), ph) for m in _P.eu_mail.finditer(text) if not _keep(m.group("v"))]
    if "id=" in text or "groups=" in text:
        for m in _P.eu_id.finditer(text):
            end = text.find("\n", m.start())
            names = _P.eu_id_name.finditer(text, m.start(), len(text) if end < 0 else end)
            spans += [(g.start("v"), g.end("v"), ph) for g in names if not _keep(g.group("v"))]
    if "." in text:
        spans += [(m.start("v"), m.end("v"), ph) for m in _P.eu_ps.finditer(text) if not _keep(m.group("v"))]
    if "user " in text or "owner" in text or "run as " in text or "runas " in text:
        spans += [(m.start("v"), m.end("v"), ph) for m in _P.eu_phrase.finditer(text) if not _keep(m.group("v"))]
    if not spans:
        return text
    merged = merge(spans)
    ctx.hit("env_user", len(merged))
    return splice(text, merged)


def _eu_patterns() -> dict[str, Any]:
    import re

    c = re.compile
    name = r"[^\s'\"=;,&()<>\[\]{}|:\\/]{1,64}+"
    return {
        "eu_key": c(r"(?<![A-Za-z0-9])(?:USER|LOGNAME|USERNAME|SUDO_USER|LNAME|REMOTE_USER|PGUSER)(?![A-Za-z0-9_])"
                    r"(?:['\"]?[ \t]*(?:=|:)[ \t]*|\t++)(?P<q>['\"]?)(?P<v>" + name + r")"),
        "eu_mail": c(r"/var/(?:spool/)?mail/(?P<v>[\w.\-]{1,64}+)"),
        "eu_id": c(r"(?<![A-Za-z0-9_])(?:uid|gid|euid|egid)=[0-9]++\("),  # id output: the names to the line's end
        "eu_id_name": c(r"[0-9]\((?P<v>[^()\s,]{1,64}+)\)"),
        # ps aux: USER PID %CPU %MEM VSZ RSS at the start of a line (or after "ps: ")
        "eu_ps": c(r"(?:^|(?<=\n)|(?<=: ))(?P<v>[^\W\d][\w.\-]{0,31}+\+?) ++[0-9]++ ++[0-9]{1,3}\.[0-9] ++"
                   r"[0-9]{1,3}\.[0-9] "),
        "eu_phrase": c(r"(?:as user|[Pp]rocess owner:?|owner:|effective user:?|current user:?|run as|runas"
                       r"|logged in user:?) ['\"]?(?P<v>\w[\w.\-@\\]{1,63}+)"),
        # gate, on the class map: a ps line's PID %CPU %MEM
        "g_eu_ps": c(rb" 0+ +0{1,3}\.0 +0{1,3}\.0 "),
    }


DETECTORS = (
    Detector("env_user", 450, env_user, "<user>", _eu_patterns, messages_only=True, trigger=(
        Clause(needs="A", has=("USER", "LOGNAME", "LNAME")),
        Clause(needs="/", has=("/mail/",)),
        Clause(needs="(", has=("id=", "groups=")),
        Clause(needs=". ", has_map=(b"0.0 ",), search_map=("g_eu_ps",)),
        Clause(needs=" ", has=("user ", "owner", "run as ", "runas ")),
    )),
)
