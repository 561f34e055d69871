"""A privacy impact assessment (PIA / DPIA) draft, generated from the policy (stdlib only).

It fills in what the policy already states (data inventory, purposes, consent levels,
retention, access, key periods, aggregation thresholds) and lists the risks crashveil is
built against with the mitigation the policy configures. What only the controller can
decide (legal basis, necessity, sign-off) is left as marked placeholders: a draft to
complete and review, never an assessment by itself.

The command is ``crashveil policy pia`` (``crashveil.cli.policy``).
"""

from __future__ import annotations

from html import escape

from crashveil.policy.model import SENSITIVITY_CLASSES, Policy

__all__ = ["render_pia"]

TODO = "**[TO COMPLETE]**"


def _risks(policy: Policy) -> list[tuple[str, str, str]]:
    """(risk, likelihood/impact note, mitigation) rows, mitigations read from the policy."""
    free_text = [n for n, r in policy.fields.items() if r.sensitivity == "free-text"]
    pseudonymous = [n for n, r in policy.fields.items() if r.sensitivity == "pseudonymous"]
    longest = max(r.retention_days for r in policy.fields.values())
    return [
        ("Personal data in free text (" + ", ".join(free_text or ["none"]) + ")",
         "medium: messages and comments can quote what a user typed",
         "allowlist per consent level; on-device redaction ("
         + ", ".join(policy.redaction.detectors[:6]) + ", ...) repeated on the server with hit counters; "
         "visible to developers only; retention "
         + ", ".join(f"{n} {policy.fields[n].retention_days} days" for n in free_text)),
        ("Linking reports to a person through pseudonyms (" + ", ".join(pseudonymous or ["none"]) + ")",
         "low: keyed HMAC, no hardware ids, no IP addresses stored",
         f"pseudonyms rotate every {policy.keys.pseudonym_rotation_days} days; erasure by pseudonym on revoke"),
        ("Re-identification from published numbers",
         "low to medium for small user bases",
         f"counts below k = {policy.aggregation.min_k} suppressed; differential privacy with "
         f"epsilon {policy.aggregation.yearly_epsilon:g} per installation and year (zCDP accountant, "
         f"{policy.aggregation.publication_window_days}-day windows)"),
        ("Over-broad internal access (curious insider)",
         "medium",
         "roles per project; per-field access lists; reading one report requires a stated reason and "
         "is recorded in a hash-chained, signed audit trail"),
        ("Stolen database or backup",
         "medium",
         f"details encrypted (AES-256-GCM) under one key per {policy.keys.data_key_days} day(s), wrapped by a "
         f"key-encryption key kept outside the database (cryptoperiod {policy.keys.kek_cryptoperiod_days} days); "
         f"expired day keys destroyed; nothing older than {longest} days"),
        ("Interception in transit",
         "low",
         f"reports sealed on the device to the server key (HPKE; key cryptoperiod "
         f"{policy.keys.hpke_key_cryptoperiod_days} days) inside mutually authenticated TLS"),
        ("Collection beyond consent or beyond what is needed",
         "low",
         "opt-in, off by default; consent bound to the policy version; sampling rate "
         f"{policy.sampling.rate}; at most {policy.limits.reports_per_day} reports per install per day"),
    ]


def _sections(policy: Policy) -> list[tuple[str, list[str], list[list[str]] | None]]:
    notice = policy.notice
    sections: list[tuple[str, list[str], list[list[str]] | None]] = []
    sections.append(("1. Processing described", [
        f"Crash reports of {notice.app_name}, sent by its users who opt in, to {notice.controller}, under "
        f"policy **{policy.name} {policy.version}**.",
        f"Controller and contact: {notice.controller}; {notice.contact}. Data protection officer: {TODO}.",
        f"Nature, scope and context (numbers of users, countries, processors and hosting): {TODO}.",
    ], None))
    sections.append(("2. Consent levels", [f"Legal basis (GDPR Art. 6; consent or legitimate interest, with the "
                                           f"balancing test): {TODO}."],
                     [["level", "rank", "what the user agrees to"]]
                     + [[lv.name, str(lv.rank), lv.description] for lv in policy.levels]))
    inventory = [["field", "sensitivity", "lowest level", "purpose", "retention (days)", "who may see it"]]
    for name, rule in policy.fields.items():
        inventory.append([name, rule.sensitivity, rule.level, rule.purpose, str(rule.retention_days),
                          ", ".join(rule.access) or "nobody (server only)"])
    sections.append(("3. Data inventory and purposes", [
        "Every field a report can carry; nothing else is ever collected. Sensitivity classes: "
        + "; ".join(f"{k}: {v}" for k, v in SENSITIVITY_CLASSES.items()) + ".",
    ], inventory))
    sections.append(("4. Necessity and proportionality", [
        f"Why each purpose needs its field, and why less would not do: {TODO}.",
        f"Data minimisation already applied: allowlist per consent level, on-device redaction, coarse time "
        f"(hour), pseudonyms instead of identifiers, sampling rate {policy.sampling.rate}.",
    ], None))
    sections.append(("5. Retention", [
        f"No field is kept longer than {policy.retention_ceiling_days} days. Expired details are deleted and "
        f"their day keys destroyed (crypto-shredding). Hourly roll-up counts are kept "
        f"{policy.aggregation.rollup_retention_days} days.",
        f"Backups: {TODO} (how long they are kept; they are put beyond use when the key-encryption key is "
        "destroyed).",
    ], [["retention (days)", "fields"]] + [[str(days), ", ".join(sorted(n for n, r in policy.fields.items()
                                                                           if r.retention_days == days))]
                                            for days in sorted({r.retention_days for r in policy.fields.values()})]))
    roles = sorted({role for rule in policy.fields.values() for role in rule.access})
    sections.append(("6. Access", [
        "Roles are granted per project. Viewers see aggregates only; reading one report needs a stated "
        "reason and is audited.",
    ], [["role", "fields visible"]] + [[role, ", ".join(policy.fields_for_role(role))] for role in roles]))
    sections.append(("7. Data subject rights", [
        "Information: the privacy notice is rendered from this policy (`crashveil policy notice`).",
        f"Withdrawal and erasure: {notice.deletion}",
        f"Access and portability requests (a pseudonymous install cannot be found from a name): {TODO}.",
    ], None))
    sections.append(("8. Risks and mitigations", [], [["risk", "likelihood / impact", "mitigation"]]
                     + [list(row) for row in _risks(policy)]))
    sections.append(("9. Key periods", [], [
        ["key", "period (days)"],
        ["install pseudonym rotation", str(policy.keys.pseudonym_rotation_days)],
        ["data key (one per)", str(policy.keys.data_key_days)],
        ["key-encryption key", str(policy.keys.kek_cryptoperiod_days)],
        ["report sealing key (HPKE)", str(policy.keys.hpke_key_cryptoperiod_days)],
        ["config signing key", str(policy.keys.signing_key_cryptoperiod_days)],
    ]))
    sections.append(("10. Residual risk and sign-off", [
        f"Residual risk after mitigations: {TODO}.", f"Consultation of the DPO / supervisory authority: {TODO}.",
        f"Approved by, date: {TODO}.",
    ], None))
    return sections


def render_pia(policy: Policy, fmt: str = "md") -> str:
    """The PIA draft as Markdown (``md``) or HTML (``html``)."""
    sections = _sections(policy)
    if fmt == "html":
        out = [f"<!doctype html><html><head><meta charset=\"utf-8\"><title>Privacy impact assessment "
               f"(draft): {escape(policy.name)}</title></head><body>",
               f"<h1>Privacy impact assessment (draft): {escape(policy.name)} {escape(policy.version)}</h1>"]
        for title, paragraphs, table in sections:
            out.append(f"<h2>{escape(title)}</h2>")
            out.extend(f"<p>{escape(p)}</p>" for p in paragraphs)
            if table:
                out.append("<table border=\"1\"><tr>" + "".join(f"<th>{escape(c)}</th>" for c in table[0]) + "</tr>")
                out.extend("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in row) + "</tr>" for row in table[1:])
                out.append("</table>")
        out.append("</body></html>\n")
        return "\n".join(out)
    if fmt != "md":
        raise ValueError("format must be md or html")
    lines = [f"# Privacy impact assessment (draft): {policy.name} {policy.version}", "",
             "Generated from the policy file; complete every item marked " + TODO + ".", ""]
    for title, paragraphs, table in sections:
        lines.extend([f"## {title}", ""])
        for paragraph in paragraphs:
            lines.extend([paragraph, ""])
        if table:
            lines.append("| " + " | ".join(table[0]) + " |")
            lines.append("|" + "---|" * len(table[0]))
            lines.extend("| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in table[1:])
            lines.append("")
    return "\n".join(lines)
