"""The user-facing privacy notice, rendered from the policy (Markdown or HTML).

Written for the people who use the app, not for developers: what each choice sends, why,
how long it is kept, who can see it, and how to stop and ask for deletion. Because it is
rendered from the same policy the SDK filters with, it cannot drift from what is collected.
"""

from __future__ import annotations

from html import escape

from crashveil.policy.model import ConsentLevel, Policy

__all__ = ["render_notice", "notice_sections"]

#: Short names used beside each item, and what each group of people does (said once).
_ROLE_NAMES = {
    "viewer": "people who see totals",
    "developer": "developers",
    "privacy-officer": "the privacy officer",
    "admin": "server administrators",
}
_ROLE_WORDS = {
    "viewer": "People who see totals only see counts, such as how many crashes a version had; never a single report.",
    "developer": "Developers fix crashes. They can open a single report only after stating why, and every such "
                 "opening is recorded.",
    "privacy-officer": "The privacy officer checks how crash data is used, kept and deleted.",
    "admin": "Server administrators run the crash-report server and its keys.",
}


def _days(days: int) -> str:
    if days % 365 == 0:
        years = days // 365
        return "1 year" if years == 1 else f"{years} years"
    if days % 30 == 0 and days >= 60:
        return f"{days // 30} months"
    return "1 day" if days == 1 else f"{days} days"


def _expiry(expires: str) -> str:
    """When a field stops being collected unless a review renews it (``policy/expiry.py``)."""
    if not expires or expires == "never":
        return ""
    if expires.startswith("release:"):
        version = expires.removeprefix("release:")
        return f" No longer collected from version {version} on, unless renewed after a review."
    return f" No longer collected from {expires} on, unless renewed after a review."


def _who(access: tuple[str, ...]) -> str:
    if not access:
        return "nobody: it is only used by the server itself"
    return ", ".join(_ROLE_NAMES[role] for role in access)


def notice_sections(policy: Policy) -> list[tuple[str, list[str]]]:
    """The notice as (heading, paragraphs) pairs; both renderers use these words."""
    return [_about_section(policy), *(_choice_section(policy, level) for level in policy.levels),
            *_server_mode_sections(policy), *_adoption_sections(policy), *_forwarding_sections(policy),
            *_protection_sections(policy),
            *_closing_sections(policy), *_feedback_sections(policy)]


def _feedback_sections(policy: Policy) -> list[tuple[str, list[str]]]:
    """The privacy feedback channel, when the policy offers it (none otherwise)."""
    rule = policy.feedback
    if rule is None:
        return []
    notice = policy.notice
    return [("Telling us what you think", [
        f"You can send {notice.controller} feedback on how crash data is handled, ask a question or state a "
        f"preference: choose \"Privacy feedback\" in {notice.app_name}'s settings (apps call "
        f"`crashveil.send_privacy_feedback`), or write to {notice.contact}. What this channel is for: "
        f"{rule.purpose}",
        f"You pick a topic ({', '.join(rule.topics)}) and write at most {rule.max_chars} characters. Personal data "
        "is removed from your text on your device before it is sent, and again on the server. You can send "
        "feedback whatever you chose above, even if crash reports are off: it is your own message, and "
        "nothing else is sent with it. It is not linked to your crash reports unless you ask for that; "
        "then it carries only the installation code of the current period.",
        f"The answer comes back to {notice.app_name} through a random code that only your device keeps, so no "
        f"installation code is needed to deliver it. Your feedback and the answer are kept encrypted for "
        f"{_days(rule.retention_days)}, then deleted (also when you ask for your data to be deleted, if you "
        f"linked them to your reports). Seen by: {_who(rule.access)}; each reading is recorded.",
    ])]


def _adoption_sections(policy: Policy) -> list[tuple[str, list[str]]]:
    """The daily adoption ping, when the policy allows it (none otherwise)."""
    rule = policy.adoption
    if rule is None:
        return []
    level = policy.level(rule.level).title
    return [("A daily sign of use", [
        f"If you chose \"{level}\" or more, {policy.notice.app_name} also says once a day, at most once per "
        "version, that this installation ran that version on that day: the version, the day and the "
        "installation code described below, nothing else, and never while crash reports are off. "
        f"{rule.purpose} The server keeps only how many installations ran each version each day, for "
        f"{_days(rule.retention_days)}; which installations they were is forgotten when the day ends. "
        f"Seen by: {_who(rule.access)}.",
    ])]


#: A destination's kind in words.
_KIND_WORDS = {"webhook": "a web service of the developers' choosing", "email": "e-mail",
               "slack": "a Slack chat", "teams": "a Microsoft Teams chat", "github": "a GitHub issue tracker",
               "gitlab": "a GitLab issue tracker"}


def _forwarding_sections(policy: Policy) -> list[tuple[str, list[str]]]:
    """Where alerts about crashes are sent and what each destination receives (none: no section)."""
    if not policy.forwarding:
        return []
    paragraphs = [
        "When a new or returning crash appears, the developers can be alerted elsewhere. An alert is about "
        "a kind of crash, never about your report: it never contains a message, a stack, breadcrumbs or "
        "your installation code, and its text is checked for personal data again before it is sent.",
    ]
    for rule in policy.forwarding.values():
        items = [name.replace("_", " ") for name in rule.fields]
        if rule.title:
            items.append("the crash's title (personal data removed)")
        paragraphs.append(f"{rule.name}, {_KIND_WORDS.get(rule.kind, rule.kind)}: {rule.purpose} It receives "
                          f"{', '.join(items) if items else 'only counts and a link'}.")
    return [("Alerts sent to other services", paragraphs)]


def _server_mode_sections(policy: Policy) -> list[tuple[str, list[str]]]:
    """When the policy lets operators of server software choose the level (none otherwise)."""
    if policy.server_mode_max_level is None:
        return []
    most = policy.level(policy.server_mode_max_level).title
    return [("When the application is a service you use", [
        f"If {policy.notice.app_name} runs on a server (a web site or service you use) rather than on your own "
        "device, you are not the one who installed it, so you are not asked: the people who run it "
        f"choose the level for everyone, and this policy lets them choose at most \"{most}\". The "
        "same items are removed and the same list above applies. Such reports never hold the web "
        "address you opened, what you typed or sent, your cookies, or your network address: at most "
        "the kind of page (for example \"/users/{id}\"), the kind of request and its result code. "
        "The service may also let you ask not to be included in crash reports.",
    ])]


def _about_section(policy: Policy) -> tuple[str, list[str]]:
    """What crash reports are, and what happens to one before it leaves the device."""
    notice = policy.notice
    return ("What this is about", [
        f"When {notice.app_name} crashes, it can send a crash report to {notice.controller} so the "
        "problem can be found and fixed. Sending crash reports is your choice, and it is off until "
        "you turn it on. You can change your mind at any time.",
        "Before anything leaves your device, the report is cut down to the items listed below, and "
        "personal data such as e-mail addresses, names in file paths, passwords and numbers you typed "
        "is removed from it. The report is then locked (encrypted) so that only the crash-report "
        "server can open it, even if it passes through other networks.",
    ])


def _choice_section(policy: Policy, level: ConsentLevel) -> tuple[str, list[str]]:
    """One consent level: its description and the items it adds to the level below."""
    paragraphs = [level.description]
    if level.rank > 0:
        for name in policy.fields_at(level.name):
            rule = policy.fields[name]
            if policy.rank(rule.level) != level.rank:
                continue
            only = f" Only these: {', '.join(rule.keys)}." if rule.keys else ""
            paragraphs.append(
                f"- **{name.replace('_', ' ').capitalize()}**: {rule.purpose}{only} "
                f"Kept for {_days(rule.retention_days)}. Seen by: {_who(rule.access)}.{_expiry(rule.expires)}")
        lower = [other.title for other in policy.levels if 0 < other.rank < level.rank]
        if lower:
            paragraphs.insert(1, f"This includes everything in \"{lower[-1]}\", and also:")
    return (f"Choice: {level.title}", paragraphs)


def _protection_sections(policy: Policy) -> list[tuple[str, list[str]]]:
    """Who sees what, the pseudonym, public numbers, how long reports are kept."""
    return [
        ("Who can see what", [
            *(_ROLE_WORDS[role] for role in ("viewer", "developer", "privacy-officer", "admin")),
            "Each item above says which of these groups may see it; nobody else can.",
        ]),
        ("How your installation is told apart", [
            f"Reports from the same installation carry a code that is re-made every "
            f"{_days(policy.keys.pseudonym_rotation_days)} from a random secret stored only on your device. "
            "It is not your name, your computer's name, its network address or any hardware number, and it "
            "cannot be turned back into any of them. The server never stores your network (IP) address.",
        ]),
        ("Numbers shown to the public", [
            f"If the developers publish crash statistics, counts smaller than {policy.aggregation.min_k} "
            "installations are never shown, and a measured amount of random noise is added to every number "
            "(differential privacy), so that nobody can tell from the numbers whether your installation crashed.",
            _public_summary_bound(policy),
        ]),
        ("How long reports are kept", [
            f"Each item is deleted after the time given above, and never kept longer than "
            f"{_days(policy.retention_ceiling_days)}. Reports are stored encrypted with a key per day; when "
            "that time is over the key itself is destroyed, so even old backups can no longer be read. "
            f"Totals without any report content (counts per day and version) are kept for "
            f"{_days(policy.aggregation.rollup_retention_days)}.",
        ]),
    ]


def _closing_sections(policy: Policy) -> list[tuple[str, list[str]]]:
    """How to stop and ask for deletion, and which policy version the notice describes."""
    notice = policy.notice
    return [
        ("Stopping and deleting", [
            notice.deletion,
            f"If you have a question or want to know what was sent, contact {notice.contact}. "
            "The application can also show you the list of reports it has sent and exactly what a report "
            "would contain before you agree to send it.",
        ]),
        ("About this notice", [
            f"This notice describes version {policy.version} of the crash-report policy. If a new version "
            "collects more, keeps data longer or shows it to more people, the application asks you again.",
        ]),
    ]


def render_notice(policy: Policy, *, fmt: str = "md") -> str:
    """The privacy notice as Markdown (``md``) or a standalone HTML page (``html``)."""
    title = f"Crash reports in {policy.notice.app_name}: what is sent and why"
    sections = notice_sections(policy)
    if fmt == "md":
        out = [f"# {title}", ""]
        for heading, paragraphs in sections:
            out += [f"## {heading}", ""]
            for paragraph in paragraphs:
                out.append(paragraph)
                if not paragraph.startswith("- "):
                    out.append("")
            if out[-1] != "":
                out.append("")
        return "\n".join(out).rstrip() + "\n"
    if fmt == "html":
        body = [f"<h1>{escape(title)}</h1>"]
        for heading, paragraphs in sections:
            body.append(f"<h2>{escape(heading)}</h2>")
            items = [p for p in paragraphs if p.startswith("- ")]
            for paragraph in paragraphs:
                if not paragraph.startswith("- "):
                    body.append(f"<p>{_inline(paragraph)}</p>")
            if items:
                body.append("<ul>" + "".join(f"<li>{_inline(p[2:])}</li>" for p in items) + "</ul>")
        return ("<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                f"<title>{escape(title)}</title></head>\n<body>\n" + "\n".join(body) + "\n</body></html>\n")
    raise ValueError(f"unknown notice format {fmt!r} (expected 'md' or 'html')")


def _inline(text: str) -> str:
    """Escape, then turn **bold** markers into <strong>."""
    parts = escape(text).split("**")
    return "".join(f"<strong>{part}</strong>" if index % 2 else part for index, part in enumerate(parts))


def _public_summary_bound(policy: Policy) -> str:
    """The public summary's window, accountant and yearly bound, in words."""
    aggregation = policy.aggregation
    window = aggregation.publication_window_days
    per = "day" if window == 1 else "week" if window == 7 else _days(window)
    return (f"Those numbers are published once per {per}, and each installation counts at most once per kind "
            "of crash in it (and in a few kinds at most). All publications together are accounted for with "
            "zero-concentrated differential privacy (Gaussian noise): for any 365 days of your installation's "
            "life the privacy loss stays "
            f"below epsilon = {aggregation.yearly_epsilon:g} with delta = {aggregation.yearly_delta:g}, and a "
            "publication that would go over that is not made.")
