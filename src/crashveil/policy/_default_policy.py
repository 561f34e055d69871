"""The shipped policy (``default.policy.toml``), parsed ahead of time. GENERATED: do not edit.

``default_policy()`` uses ``DATA`` only when ``SOURCE`` equals the TOML file beside it byte
for byte, and validates it with ``parse_policy`` exactly as a file read with ``tomllib``; if
the file changed, it reads the file (correct, only slower). This spares every process that
needs the shipped policy the import of ``tomllib`` and the parse (a few ms of ``init()``).

``CANONICAL`` and ``DIGEST`` are ``canonical_policy`` and ``policy_digest`` of the validated
policy, made by the same generator: ``crashveil.policy.shipped`` answers ``init()`` and
``grant()`` from them (level names, digest, allowlists) without building the ``Policy`` at
all (same condition: ``SOURCE`` is the file). ``tests/policy`` checks that they are current.

Pure data, importing nothing. After editing ``default.policy.toml`` (or the policy model,
loader or digest), regenerate this file::

    python -m crashveil.policy.generate_shipped
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["SOURCE", "DATA", "CANONICAL", "DIGEST"]


#: The TOML text this was parsed from.
SOURCE = (
    '# crashveil default policy — the living document of what a crash report may carry.\n'
    '#\n'
    '# Read it top to bottom: who is responsible, the consent levels a user can choose, then\n'
    '# every field a report can hold with why it is collected, how sensitive it is, the lowest\n'
    '# level that allows it, how long it is kept and who may see it. A field that is not in\n'
    '# this file never exists in a report. Any material change (a new field, a field moved to\n'
    '# a lower level, longer retention, wider access, weaker k or larger epsilon, longer key\n'
    '# periods) needs a new version and a review; `crashveil policy diff OLD NEW` lists them.\n'
    '\n'
    '[policy]\n'
    'name = "crashveil-default"\n'
    'version = "1.2.0"\n'
    '# No field may be kept longer than this, whatever it declares below.\n'
    'retention_ceiling_days = 365\n'
    '# `crashveil check` warns this many days before a field expires (see `expires` below).\n'
    'expiry_warning_days = 30\n'
    '\n'
    '[notice]\n'
    'app_name = "this application"\n'
    'controller = "the developers of this application"\n'
    'contact = "the support address given in the application\'s About box"\n'
    'deletion = "Choose \\"Stop sending crash reports\\" in the application\'s settings: the reports already on your device are deleted at once and the server is asked to delete every report sent from this installation."\n'
    '\n'
    '# Consent levels, from least to most. A report is built only from the fields allowed at\n'
    '# the level the user chose. `off` is the default: nothing is collected or sent.\n'
    '[levels.off]\n'
    'rank = 0\n'
    'title = "Don\'t send crash reports"\n'
    'description = "Nothing about crashes is collected, stored on this device or sent."\n'
    '\n'
    '[levels.crash]\n'
    'rank = 1\n'
    'title = "Send basic crash reports"\n'
    'description = "When the application crashes, send which error happened and where in the application\'s code, with the application version and the kind of computer it ran on. No messages, no file contents, nothing you typed."\n'
    '\n'
    '[levels.diagnostic]\n'
    'rank = 2\n'
    'title = "Send detailed crash reports"\n'
    'description = "Also send the error message and the last few steps the application took before the crash, after personal data such as e-mail addresses, names in file paths and passwords has been removed on your device."\n'
    '\n'
    '# Server software (a web app, an API): the people whose requests crash are not the ones who run\n'
    '# it and cannot be asked. The operator may then grant a level for everyone in configuration\n'
    '# (`crashveil.init(consent_mode="server", server_level=...)`), at most this one. Redaction and\n'
    '# the allowlist stand exactly as on a device; a request can opt out (a header or a hook).\n'
    '[consent]\n'
    'server_mode_max_level = "crash"\n'
    '\n'
    '# On-device redaction (repeated on the server). Detectors run on every string that can\n'
    '# reach a report; each replaces what it finds with a typed placeholder such as <email>.\n'
    '# The daily adoption ping: at most once per installation, version and day, "this installation\n'
    '# ran this version today" (the version, the UTC day and the install pseudonym, nothing else),\n'
    '# so developers can tell how many installations run each version and what share of them did\n'
    '# not crash. Never sent at level off. The server keeps only the count of distinct\n'
    "# installations per version and day; the day's de-duplication set is dropped when it ends.\n"
    '[adoption]\n'
    'purpose = "Tells developers how many installations run each version, so they can see what share of them crashed and whether a new version is safe to roll out further."\n'
    'level = "crash"\n'
    'retention_days = 90\n'
    'access = ["viewer", "developer", "privacy-officer", "admin"]\n'
    'review = "reviews/2026-12-07-adoption.md"\n'
    '\n'
    '[redaction]\n'
    'detectors = [\n'
    '  "pem_private_key", "url_credentials", "connection_string", "jwt", "api_key", "email",\n'
    '  "home_path", "unc_path", "iban", "card_number", "national_id", "uuid", "mac", "ipv6",\n'
    '  "ipv4", "phone", "query_values", "quoted_input", "hostname", "high_entropy",\n'
    '  "person_name", "street_address", "env_user",\n'
    ']\n'
    '\n'
    '[sampling]\n'
    '# Fraction of crashes that become reports (the rest are only counted).\n'
    'rate = 1.0\n'
    '# Example of an override: sample a noisy beta cohort at half rate.\n'
    '[[sampling.overrides]]\n'
    'cohort = "beta"\n'
    'rate = 0.5\n'
    '\n'
    '[limits]\n'
    'reports_per_hour = 10\n'
    'reports_per_day = 50\n'
    '# The same crash (same fingerprint) is reported once per window; repeats are counted.\n'
    'dedupe_window_s = 3600\n'
    '# The sealed queue on the device: oldest reports are dropped (and counted) beyond these.\n'
    'queue_max_reports = 30\n'
    'queue_max_bytes = 2_000_000\n'
    'queue_max_age_days = 30\n'
    '\n'
    '[aggregation]\n'
    '# Counts below k installs are never shown.\n'
    'min_k = 5\n'
    '# Hourly roll-up counts (no content, no pseudonyms) are kept this long.\n'
    'rollup_retention_days = 365\n'
    '# The public summary is published once per window of this many days (UTC, weeks start on\n'
    '# Monday); each installation counts at most once per crash group in a window.\n'
    'window_days = 7\n'
    '# Differential-privacy bound per installation over any 365 days, (epsilon, delta), accounted\n'
    '# in zCDP over every window published (replaces the old dp_epsilon_per_day, which a policy\n'
    '# may still carry: without dp_epsilon_per_year it means min(365 x that, 10) per year).\n'
    'dp_epsilon_per_year = 10.0\n'
    'dp_delta = 1e-6\n'
    '\n'
    '[keys]\n'
    '# The install pseudonym is re-derived with a new key every period, so reports of different\n'
    '# periods cannot be linked by the pseudonym alone.\n'
    'pseudonym_rotation_days = 30\n'
    '# Report details are encrypted under one data key per day; destroying it deletes them.\n'
    'data_key_days = 1\n'
    'kek_cryptoperiod_days = 365\n'
    'hpke_key_cryptoperiod_days = 365\n'
    'signing_key_cryptoperiod_days = 730\n'
    '\n'
    '# ---------------------------------------------------------------------------------------\n'
    '# The field catalog. Sensitivity classes: technical, quasi-identifier, pseudonymous,\n'
    '# free-text. Roles: viewer (aggregates only), developer, privacy-officer, admin.\n'
    '#\n'
    '# Every field expires unless a review renews it (`expires`, next to `review`):\n'
    '#   expires = "2027-11-27"   from that UTC day on the field is not collected;\n'
    '#   expires = "release:2.0"  not collected by releases 2.0 and later (leading numbers compared);\n'
    '#   expires = "never"        only for the fields every report carries.\n'
    "# After expiry the SDK stops collecting the field, the server's signed config tells shipped\n"
    '# apps to stop too, and the server drops (and counts) it. `crashveil check` warns\n'
    '# `expiry_warning_days` ahead and fails past expiry without a renewed review record;\n'
    '# `crashveil policy renew FIELD --until DATE --review FILE` renews. Free text expires sooner.\n'
    '\n'
    '[fields.schema_version]\n'
    'purpose = "Lets the server read the report in the format it was written in."\n'
    'sensitivity = "technical"\n'
    'level = "crash"\n'
    'retention_days = 90\n'
    'access = ["viewer", "developer", "privacy-officer", "admin"]\n'
    'review = "reviews/2026-11-27-initial.md"\n'
    'expires = "never"\n'
    '\n'
    '[fields.policy_digest]\n'
    'purpose = "Proves which version of this policy the report was built under, so the server can check it."\n'
    'sensitivity = "technical"\n'
    'level = "crash"\n'
    'retention_days = 90\n'
    'access = ["developer", "privacy-officer", "admin"]\n'
    'review = "reviews/2026-11-27-initial.md"\n'
    'expires = "never"\n'
    '\n'
    '[fields.consent_level]\n'
    'purpose = "Records which level you chose, so the server keeps only what that level allows."\n'
    'sensitivity = "technical"\n'
    'level = "crash"\n'
    'retention_days = 90\n'
    'access = ["developer", "privacy-officer", "admin"]\n'
    'review = "reviews/2026-11-27-initial.md"\n'
    'expires = "never"\n'
    '\n'
    '[fields.report_id]\n'
    'purpose = "A random number for this one report, so it is stored once and you can look up its status."\n'
    'sensitivity = "technical"\n'
    'level = "crash"\n'
    'retention_days = 90\n'
    'access = ["developer", "privacy-officer", "admin"]\n'
    'review = "reviews/2026-11-27-initial.md"\n'
    'expires = "never"\n'
    '\n'
    '[fields.crash_type]\n'
    'purpose = "Says which kind of error happened (for example ValueError), to group and fix crashes."\n'
    'sensitivity = "technical"\n'
    'level = "crash"\n'
    'retention_days = 90\n'
    'access = ["viewer", "developer", "privacy-officer", "admin"]\n'
    'review = "reviews/2026-11-27-initial.md"\n'
    'forwardable = true\n'
    'expires = "never"\n'
    '\n'
    '[fields.error_code]\n'
    'purpose = "The numeric error or exit code (such as \'file not found\'), which often explains the crash."\n'
    'sensitivity = "technical"\n'
    'level = "crash"\n'
    'retention_days = 90\n'
    'access = ["viewer", "developer", "admin"]\n'
    'review = "reviews/2026-11-27-initial.md"\n'
    'forwardable = true\n'
    'expires = "2027-11-27"\n'
    '\n'
    '[fields.mechanism]\n'
    'purpose = "How the crash was caught (main thread, background thread, native fault), to find the cause."\n'
    'sensitivity = "technical"\n'
    'level = "crash"\n'
    'retention_days = 90\n'
    'access = ["viewer", "developer", "admin"]\n'
    'review = "reviews/2026-11-27-initial.md"\n'
    'forwardable = true\n'
    'expires = "2027-11-27"\n'
    '\n'
    '[fields.stack]\n'
    'purpose = "Where in the application\'s own code the crash happened: file names inside the application, function names and line numbers. No values of your data."\n'
    'sensitivity = "technical"\n'
    'level = "crash"\n'
    'retention_days = 90\n'
    'access = ["developer", "admin"]\n'
    'review = "reviews/2026-11-27-initial.md"\n'
    'expires = "2027-11-27"\n'
    '\n'
    '[fields.chain]\n'
    'purpose = "The errors that led to this one (their kinds and places in the code), to find the root cause."\n'
    'sensitivity = "technical"\n'
    'level = "crash"\n'
    'retention_days = 90\n'
    'access = ["developer", "admin"]\n'
    'review = "reviews/2026-11-27-initial.md"\n'
    'expires = "2027-11-27"\n'
    '\n'
    '[fields.fingerprint]\n'
    'purpose = "A short code computed from the error kind and code path, so repeats of one crash are grouped."\n'
    'sensitivity = "technical"\n'
    'level = "crash"\n'
    'retention_days = 90\n'
    'access = ["viewer", "developer", "privacy-officer", "admin"]\n'
    'review = "reviews/2026-11-27-initial.md"\n'
    'expires = "never"\n'
    '\n'
    '[fields.occurred_hour]\n'
    'purpose = "The hour the crash happened (not the minute), to see whether a crash is new or growing."\n'
    'sensitivity = "quasi-identifier"\n'
    'level = "crash"\n'
    'retention_days = 90\n'
    'access = ["viewer", "developer", "privacy-officer", "admin"]\n'
    'review = "reviews/2026-11-27-initial.md"\n'
    'expires = "2027-11-27"\n'
    '\n'
    '[fields.release]\n'
    'purpose = "The application version, to know which versions a crash affects and whether a fix worked."\n'
    'sensitivity = "technical"\n'
    'level = "crash"\n'
    'retention_days = 90\n'
    'access = ["viewer", "developer", "privacy-officer", "admin"]\n'
    'review = "reviews/2026-11-27-initial.md"\n'
    'forwardable = true\n'
    'expires = "2027-11-27"\n'
    '\n'
    '[fields.environment]\n'
    'purpose = "The operating system family and major version, Python version and processor type, because many crashes happen on one platform only. Nothing else about your computer."\n'
    'sensitivity = "quasi-identifier"\n'
    'level = "crash"\n'
    'retention_days = 90\n'
    'access = ["viewer", "developer", "admin"]\n'
    'review = "reviews/2026-11-27-initial.md"\n'
    'forwardable = true\n'
    'expires = "2027-11-27"\n'
    '\n'
    '[fields.install_id]\n'
    'purpose = "A code that changes every month and cannot be traced back to you or your computer. It lets developers count how many installations a crash affects and lets you ask for your reports to be deleted."\n'
    'sensitivity = "pseudonymous"\n'
    'level = "crash"\n'
    'retention_days = 90\n'
    'access = ["developer", "privacy-officer", "admin"]\n'
    'review = "reviews/2026-11-27-initial.md"\n'
    'expires = "2027-11-27"\n'
    '\n'
    '[fields.client_stats]\n'
    'purpose = "How many crashes were counted but not sent (sampling, limits, a full queue), so the numbers developers see are honest."\n'
    'sensitivity = "technical"\n'
    'level = "crash"\n'
    'retention_days = 90\n'
    'access = ["viewer", "developer", "privacy-officer", "admin"]\n'
    'review = "reviews/2026-11-27-initial.md"\n'
    'expires = "2027-11-27"\n'
    '\n'
    '[fields.comment]\n'
    'purpose = "What you chose to write about the crash when asked, after personal data has been removed."\n'
    'sensitivity = "free-text"\n'
    'level = "crash"\n'
    'retention_days = 30\n'
    'access = ["developer"]\n'
    'review = "reviews/2026-11-27-initial.md"\n'
    'expires = "2027-05-27"\n'
    '\n'
    '[fields.message]\n'
    'purpose = "The error message, with e-mail addresses, names, numbers and typed text removed, which often says exactly what went wrong."\n'
    'sensitivity = "free-text"\n'
    'level = "diagnostic"\n'
    'retention_days = 30\n'
    'access = ["developer"]\n'
    'review = "reviews/2026-11-27-initial.md"\n'
    'expires = "2027-05-27"\n'
    '\n'
    '[fields.breadcrumbs]\n'
    'purpose = "The last few steps the application took before the crash (for example \'opened settings\'), with personal data removed."\n'
    'sensitivity = "free-text"\n'
    'level = "diagnostic"\n'
    'retention_days = 30\n'
    'access = ["developer"]\n'
    'review = "reviews/2026-11-27-initial.md"\n'
    'expires = "2027-05-27"\n'
    '\n'
    '# Request context, filled by the web integrations (crashveil.sdk.integrations). Never the URL,\n'
    "# its query string, headers, cookies, bodies or the client's address.\n"
    '\n'
    '[fields.route]\n'
    'purpose = "The kind of page or API call that crashed, as the application defines it (for example /users/{id}), never the address actually opened, so crashes of one page are found together."\n'
    'sensitivity = "technical"\n'
    'level = "crash"\n'
    'retention_days = 90\n'
    'access = ["viewer", "developer", "admin"]\n'
    'review = "reviews/2026-11-27-initial.md"\n'
    'expires = "2027-11-27"\n'
    '\n'
    '[fields.http_method]\n'
    'purpose = "The kind of request (GET, POST ...), because a page often fails only when something is sent."\n'
    'sensitivity = "technical"\n'
    'level = "crash"\n'
    'retention_days = 90\n'
    'access = ["viewer", "developer", "admin"]\n'
    'review = "reviews/2026-11-27-initial.md"\n'
    'expires = "2027-11-27"\n'
    '\n'
    '[fields.status_code]\n'
    'purpose = "The result code the server answered (for example 500), to tell a failed request from one that failed halfway."\n'
    'sensitivity = "technical"\n'
    'level = "crash"\n'
    'retention_days = 90\n'
    'access = ["viewer", "developer", "admin"]\n'
    'review = "reviews/2026-11-27-initial.md"\n'
    'expires = "2027-11-27"\n'
    '\n'
    '[fields.handler]\n'
    'purpose = "The name of the application\'s function that answered the request, to find the code to fix."\n'
    'sensitivity = "technical"\n'
    'level = "crash"\n'
    'retention_days = 90\n'
    'access = ["developer", "admin"]\n'
    'review = "reviews/2026-11-27-initial.md"\n'
    'expires = "2027-11-27"\n'
    '\n'
    "# Task context, filled by the task integrations (Celery, RQ). Never the task's arguments,\n"
    '# result, id or broker.\n'
    '\n'
    '[fields.task_name]\n'
    'purpose = "The name of the background task that failed (for example \'shop.tasks.send_invoice\'), a name from the application\'s code, to tell which task crashes. Never the task\'s inputs or results."\n'
    'sensitivity = "technical"\n'
    'level = "crash"\n'
    'retention_days = 90\n'
    'access = ["viewer", "developer", "admin"]\n'
    'review = "reviews/2026-11-27-initial.md"\n'
    'expires = "2027-11-27"\n'
    '\n'
    '[fields.task_retries]\n'
    'purpose = "How many times the failed task had already been retried, to tell a first failure from a task that keeps failing."\n'
    'sensitivity = "technical"\n'
    'level = "crash"\n'
    'retention_days = 90\n'
    'access = ["viewer", "developer", "admin"]\n'
    'review = "reviews/2026-11-27-initial.md"\n'
    'expires = "2027-11-27"\n'
    '\n'
    "# Fields an app's own crash reporter sets. The crashveil SDK does not collect them; the\n"
    "# Sentry bridge maps a Sentry SDK's event onto them (docs/sentry.md).\n"
    '\n'
    '[fields.dist]\n'
    'purpose = "The build variant of the application version (for example a platform build), to tell builds of one release apart."\n'
    'sensitivity = "technical"\n'
    'level = "crash"\n'
    'retention_days = 90\n'
    'access = ["viewer", "developer", "privacy-officer", "admin"]\n'
    'review = "reviews/2026-11-27-initial.md"\n'
    'expires = "2027-11-27"\n'
    '\n'
    '[fields.deployment]\n'
    'purpose = "Which deployment of the application reported the crash (for example production or staging), so test crashes are not counted with real ones."\n'
    'sensitivity = "technical"\n'
    'level = "crash"\n'
    'retention_days = 90\n'
    'access = ["viewer", "developer", "privacy-officer", "admin"]\n'
    'review = "reviews/2026-11-27-initial.md"\n'
    'forwardable = true\n'
    'expires = "2027-11-27"\n'
    '\n'
    '[fields.severity]\n'
    'purpose = "How serious the application rated the problem (fatal, error, warning, info, debug), to fix the worst first."\n'
    'sensitivity = "technical"\n'
    'level = "crash"\n'
    'retention_days = 90\n'
    'access = ["viewer", "developer", "privacy-officer", "admin"]\n'
    'review = "reviews/2026-11-27-initial.md"\n'
    'forwardable = true\n'
    'expires = "2027-11-27"\n'
    '\n'
    '[fields.logger]\n'
    'purpose = "The name of the part of the application that logged the problem (for example shop.billing), to find the code."\n'
    'sensitivity = "technical"\n'
    'level = "crash"\n'
    'retention_days = 90\n'
    'access = ["viewer", "developer", "admin"]\n'
    'review = "reviews/2026-11-27-initial.md"\n'
    'expires = "2027-11-27"\n'
    '\n'
    '[fields.platform]\n'
    'purpose = "The programming platform of the application (for example python or javascript), to read the stack correctly."\n'
    'sensitivity = "technical"\n'
    'level = "crash"\n'
    'retention_days = 90\n'
    'access = ["viewer", "developer", "privacy-officer", "admin"]\n'
    'review = "reviews/2026-11-27-initial.md"\n'
    'forwardable = true\n'
    'expires = "2027-11-27"\n'
    '\n'
    '[fields.handled]\n'
    'purpose = "Whether the application caught the error itself or it ended the program, to fix crashes first."\n'
    'sensitivity = "technical"\n'
    'level = "crash"\n'
    'retention_days = 90\n'
    'access = ["viewer", "developer", "admin"]\n'
    'review = "reviews/2026-11-27-initial.md"\n'
    'forwardable = true\n'
    'expires = "2027-11-27"\n'
    '\n'
    '[fields.device_class]\n'
    'purpose = "The kind of device (desktop, mobile, tablet, server...), never its model or name, because some crashes happen on one kind only."\n'
    'sensitivity = "quasi-identifier"\n'
    'level = "crash"\n'
    'retention_days = 90\n'
    'access = ["viewer", "developer", "admin"]\n'
    'review = "reviews/2026-11-27-initial.md"\n'
    'expires = "2027-11-27"\n'
    '\n'
    '[fields.transaction]\n'
    'purpose = "The name of the screen, route or task that was running (for example /checkout), with personal data removed, to find the code."\n'
    'sensitivity = "technical"\n'
    'level = "crash"\n'
    'retention_days = 90\n'
    'access = ["developer", "admin"]\n'
    'review = "reviews/2026-11-27-initial.md"\n'
    'expires = "2027-11-27"\n'
    '\n'
    '[fields.tags]\n'
    'purpose = "Labels the application put on the crash, only those named below (for example which feature was in use), values shortened and with personal data removed."\n'
    'sensitivity = "quasi-identifier"\n'
    'level = "crash"\n'
    'retention_days = 90\n'
    'access = ["developer", "admin"]\n'
    'review = "reviews/2026-11-27-initial.md"\n'
    'expires = "2027-11-27"\n'
    'keys = ["feature", "component", "handled"]\n'
    '\n'
    '[fields.grouping]\n'
    'purpose = "The developers\' own rule for which crashes are the same (a few short labels, personal data removed), so repeats are grouped as they intend."\n'
    'sensitivity = "technical"\n'
    'level = "crash"\n'
    'retention_days = 90\n'
    'access = ["developer", "admin"]\n'
    'review = "reviews/2026-11-27-initial.md"\n'
    'expires = "2027-11-27"\n'
    '\n'
    '[fields.message_template]\n'
    'purpose = "The text of a logged problem as written in the code, without the values filled in (for example \'payment %s declined\'), personal data removed, to name and group it."\n'
    'sensitivity = "free-text"\n'
    'level = "diagnostic"\n'
    'retention_days = 30\n'
    'access = ["developer"]\n'
    'review = "reviews/2026-11-27-initial.md"\n'
    'expires = "2027-05-27"\n'
    '\n'
    '[fields.source_context]\n'
    'purpose = "The one line of the application\'s own source code at each place in the stack (never library code or your data), to read the crash without the source at hand."\n'
    'sensitivity = "free-text"\n'
    'level = "diagnostic"\n'
    'retention_days = 30\n'
    'access = ["developer"]\n'
    'review = "reviews/2026-11-27-initial.md"\n'
    'expires = "2027-05-27"\n'
    '\n'
    '# Forwarding: where alerts may go and what each destination receives. A destination sees\n'
    '# only group-level values of fields marked `forwardable = true` above (never a message, a\n'
    '# stack, breadcrumbs or an installation code), redacted again when sent. None by default;\n'
    '# adding one, or a field or the title to one, is a material change that needs a review.\n'
    '#\n'
    '# [forwarding.team-chat]\n'
    '# kind = "slack"            # webhook, email, slack, teams, github or gitlab\n'
    '# purpose = "Tell the on-call developers that a new crash appeared, so they can fix it."\n'
    '# fields = ["crash_type", "release", "environment"]\n'
    "# title = false             # true: also the group's redacted title\n"
    '# review = "reviews/2026-12-07-forwarding.md"\n'
    '\n'
    '# The privacy feedback channel: the person using the application may tell the developers what\n'
    '# they think of this data practice, ask a question or state a preference, and read the answer\n'
    '# in the application (`crashveil.send_privacy_feedback(topic, text)`). Allowed at every consent\n'
    "# level, even off: it is the user's own act, and nothing else is sent with it. The text is\n"
    '# redacted on the device and again on the server, never linked to crash reports unless the user\n'
    '# asks, kept encrypted with the reply for `retention_days`, and read only by `access`.\n'
    '[feedback]\n'
    'purpose = "Lets you tell the developers what you think of how crash data is handled, ask a question or state a preference, and read their answer in the application."\n'
    'topics = ["question", "concern", "preference", "other"]\n'
    'max_chars = 2000\n'
    'retention_days = 180\n'
    'access = ["privacy-officer", "admin"]\n'
    'review = "reviews/2026-12-07-feedback.md"\n'
)

#: ``tomllib.loads(SOURCE)``
DATA: dict[str, Any] = {'policy': {'name': 'crashveil-default',
            'version': '1.2.0',
            'retention_ceiling_days': 365,
            'expiry_warning_days': 30},
 'notice': {'app_name': 'this application',
            'controller': 'the developers of this application',
            'contact': "the support address given in the application's About box",
            'deletion': 'Choose "Stop sending crash reports" in the application\'s settings: the reports '
                        'already on your device are deleted at once and the server is asked to delete every '
                        'report sent from this installation.'},
 'levels': {'off': {'rank': 0,
                    'title': "Don't send crash reports",
                    'description': 'Nothing about crashes is collected, stored on this device or sent.'},
            'crash': {'rank': 1,
                      'title': 'Send basic crash reports',
                      'description': 'When the application crashes, send which error happened and where in '
                                     "the application's code, with the application version and the kind of "
                                     'computer it ran on. No messages, no file contents, nothing you typed.'},
            'diagnostic': {'rank': 2,
                           'title': 'Send detailed crash reports',
                           'description': 'Also send the error message and the last few steps the '
                                          'application took before the crash, after personal data such as '
                                          'e-mail addresses, names in file paths and passwords has been '
                                          'removed on your device.'}},
 'consent': {'server_mode_max_level': 'crash'},
 'adoption': {'purpose': 'Tells developers how many installations run each version, so they can see what '
                         'share of them crashed and whether a new version is safe to roll out further.',
              'level': 'crash',
              'retention_days': 90,
              'access': ['viewer', 'developer', 'privacy-officer', 'admin'],
              'review': 'reviews/2026-12-07-adoption.md'},
 'redaction': {'detectors': ['pem_private_key',
                             'url_credentials',
                             'connection_string',
                             'jwt',
                             'api_key',
                             'email',
                             'home_path',
                             'unc_path',
                             'iban',
                             'card_number',
                             'national_id',
                             'uuid',
                             'mac',
                             'ipv6',
                             'ipv4',
                             'phone',
                             'query_values',
                             'quoted_input',
                             'hostname',
                             'high_entropy',
                             'person_name',
                             'street_address',
                             'env_user']},
 'sampling': {'rate': 1.0, 'overrides': [{'cohort': 'beta', 'rate': 0.5}]},
 'limits': {'reports_per_hour': 10,
            'reports_per_day': 50,
            'dedupe_window_s': 3600,
            'queue_max_reports': 30,
            'queue_max_bytes': 2000000,
            'queue_max_age_days': 30},
 'aggregation': {'min_k': 5,
                 'rollup_retention_days': 365,
                 'window_days': 7,
                 'dp_epsilon_per_year': 10.0,
                 'dp_delta': 1e-06},
 'keys': {'pseudonym_rotation_days': 30,
          'data_key_days': 1,
          'kek_cryptoperiod_days': 365,
          'hpke_key_cryptoperiod_days': 365,
          'signing_key_cryptoperiod_days': 730},
 'fields': {'schema_version': {'purpose': 'Lets the server read the report in the format it was written in.',
                               'sensitivity': 'technical',
                               'level': 'crash',
                               'retention_days': 90,
                               'access': ['viewer', 'developer', 'privacy-officer', 'admin'],
                               'review': 'reviews/2026-11-27-initial.md',
                               'expires': 'never'},
            'policy_digest': {'purpose': 'Proves which version of this policy the report was built under, so '
                                         'the server can check it.',
                              'sensitivity': 'technical',
                              'level': 'crash',
                              'retention_days': 90,
                              'access': ['developer', 'privacy-officer', 'admin'],
                              'review': 'reviews/2026-11-27-initial.md',
                              'expires': 'never'},
            'consent_level': {'purpose': 'Records which level you chose, so the server keeps only what that '
                                         'level allows.',
                              'sensitivity': 'technical',
                              'level': 'crash',
                              'retention_days': 90,
                              'access': ['developer', 'privacy-officer', 'admin'],
                              'review': 'reviews/2026-11-27-initial.md',
                              'expires': 'never'},
            'report_id': {'purpose': 'A random number for this one report, so it is stored once and you can '
                                     'look up its status.',
                          'sensitivity': 'technical',
                          'level': 'crash',
                          'retention_days': 90,
                          'access': ['developer', 'privacy-officer', 'admin'],
                          'review': 'reviews/2026-11-27-initial.md',
                          'expires': 'never'},
            'crash_type': {'purpose': 'Says which kind of error happened (for example ValueError), to group '
                                      'and fix crashes.',
                           'sensitivity': 'technical',
                           'level': 'crash',
                           'retention_days': 90,
                           'access': ['viewer', 'developer', 'privacy-officer', 'admin'],
                           'review': 'reviews/2026-11-27-initial.md',
                           'forwardable': True,
                           'expires': 'never'},
            'error_code': {'purpose': "The numeric error or exit code (such as 'file not found'), which "
                                      'often explains the crash.',
                           'sensitivity': 'technical',
                           'level': 'crash',
                           'retention_days': 90,
                           'access': ['viewer', 'developer', 'admin'],
                           'review': 'reviews/2026-11-27-initial.md',
                           'forwardable': True,
                           'expires': '2027-11-27'},
            'mechanism': {'purpose': 'How the crash was caught (main thread, background thread, native '
                                     'fault), to find the cause.',
                          'sensitivity': 'technical',
                          'level': 'crash',
                          'retention_days': 90,
                          'access': ['viewer', 'developer', 'admin'],
                          'review': 'reviews/2026-11-27-initial.md',
                          'forwardable': True,
                          'expires': '2027-11-27'},
            'stack': {'purpose': "Where in the application's own code the crash happened: file names inside "
                                 'the application, function names and line numbers. No values of your data.',
                      'sensitivity': 'technical',
                      'level': 'crash',
                      'retention_days': 90,
                      'access': ['developer', 'admin'],
                      'review': 'reviews/2026-11-27-initial.md',
                      'expires': '2027-11-27'},
            'chain': {'purpose': 'The errors that led to this one (their kinds and places in the code), to '
                                 'find the root cause.',
                      'sensitivity': 'technical',
                      'level': 'crash',
                      'retention_days': 90,
                      'access': ['developer', 'admin'],
                      'review': 'reviews/2026-11-27-initial.md',
                      'expires': '2027-11-27'},
            'fingerprint': {'purpose': 'A short code computed from the error kind and code path, so repeats '
                                       'of one crash are grouped.',
                            'sensitivity': 'technical',
                            'level': 'crash',
                            'retention_days': 90,
                            'access': ['viewer', 'developer', 'privacy-officer', 'admin'],
                            'review': 'reviews/2026-11-27-initial.md',
                            'expires': 'never'},
            'occurred_hour': {'purpose': 'The hour the crash happened (not the minute), to see whether a '
                                         'crash is new or growing.',
                              'sensitivity': 'quasi-identifier',
                              'level': 'crash',
                              'retention_days': 90,
                              'access': ['viewer', 'developer', 'privacy-officer', 'admin'],
                              'review': 'reviews/2026-11-27-initial.md',
                              'expires': '2027-11-27'},
            'release': {'purpose': 'The application version, to know which versions a crash affects and '
                                   'whether a fix worked.',
                        'sensitivity': 'technical',
                        'level': 'crash',
                        'retention_days': 90,
                        'access': ['viewer', 'developer', 'privacy-officer', 'admin'],
                        'review': 'reviews/2026-11-27-initial.md',
                        'forwardable': True,
                        'expires': '2027-11-27'},
            'environment': {'purpose': 'The operating system family and major version, Python version and '
                                       'processor type, because many crashes happen on one platform only. '
                                       'Nothing else about your computer.',
                            'sensitivity': 'quasi-identifier',
                            'level': 'crash',
                            'retention_days': 90,
                            'access': ['viewer', 'developer', 'admin'],
                            'review': 'reviews/2026-11-27-initial.md',
                            'forwardable': True,
                            'expires': '2027-11-27'},
            'install_id': {'purpose': 'A code that changes every month and cannot be traced back to you or '
                                      'your computer. It lets developers count how many installations a '
                                      'crash affects and lets you ask for your reports to be deleted.',
                           'sensitivity': 'pseudonymous',
                           'level': 'crash',
                           'retention_days': 90,
                           'access': ['developer', 'privacy-officer', 'admin'],
                           'review': 'reviews/2026-11-27-initial.md',
                           'expires': '2027-11-27'},
            'client_stats': {'purpose': 'How many crashes were counted but not sent (sampling, limits, a '
                                        'full queue), so the numbers developers see are honest.',
                             'sensitivity': 'technical',
                             'level': 'crash',
                             'retention_days': 90,
                             'access': ['viewer', 'developer', 'privacy-officer', 'admin'],
                             'review': 'reviews/2026-11-27-initial.md',
                             'expires': '2027-11-27'},
            'comment': {'purpose': 'What you chose to write about the crash when asked, after personal data '
                                   'has been removed.',
                        'sensitivity': 'free-text',
                        'level': 'crash',
                        'retention_days': 30,
                        'access': ['developer'],
                        'review': 'reviews/2026-11-27-initial.md',
                        'expires': '2027-05-27'},
            'message': {'purpose': 'The error message, with e-mail addresses, names, numbers and typed text '
                                   'removed, which often says exactly what went wrong.',
                        'sensitivity': 'free-text',
                        'level': 'diagnostic',
                        'retention_days': 30,
                        'access': ['developer'],
                        'review': 'reviews/2026-11-27-initial.md',
                        'expires': '2027-05-27'},
            'breadcrumbs': {'purpose': 'The last few steps the application took before the crash (for '
                                       "example 'opened settings'), with personal data removed.",
                            'sensitivity': 'free-text',
                            'level': 'diagnostic',
                            'retention_days': 30,
                            'access': ['developer'],
                            'review': 'reviews/2026-11-27-initial.md',
                            'expires': '2027-05-27'},
            'route': {'purpose': 'The kind of page or API call that crashed, as the application defines it '
                                 '(for example /users/{id}), never the address actually opened, so crashes '
                                 'of one page are found together.',
                      'sensitivity': 'technical',
                      'level': 'crash',
                      'retention_days': 90,
                      'access': ['viewer', 'developer', 'admin'],
                      'review': 'reviews/2026-11-27-initial.md',
                      'expires': '2027-11-27'},
            'http_method': {'purpose': 'The kind of request (GET, POST ...), because a page often fails only '
                                       'when something is sent.',
                            'sensitivity': 'technical',
                            'level': 'crash',
                            'retention_days': 90,
                            'access': ['viewer', 'developer', 'admin'],
                            'review': 'reviews/2026-11-27-initial.md',
                            'expires': '2027-11-27'},
            'status_code': {'purpose': 'The result code the server answered (for example 500), to tell a '
                                       'failed request from one that failed halfway.',
                            'sensitivity': 'technical',
                            'level': 'crash',
                            'retention_days': 90,
                            'access': ['viewer', 'developer', 'admin'],
                            'review': 'reviews/2026-11-27-initial.md',
                            'expires': '2027-11-27'},
            'handler': {'purpose': "The name of the application's function that answered the request, to "
                                   'find the code to fix.',
                        'sensitivity': 'technical',
                        'level': 'crash',
                        'retention_days': 90,
                        'access': ['developer', 'admin'],
                        'review': 'reviews/2026-11-27-initial.md',
                        'expires': '2027-11-27'},
            'task_name': {'purpose': 'The name of the background task that failed (for example '
                                     "'shop.tasks.send_invoice'), a name from the application's code, to "
                                     "tell which task crashes. Never the task's inputs or results.",
                          'sensitivity': 'technical',
                          'level': 'crash',
                          'retention_days': 90,
                          'access': ['viewer', 'developer', 'admin'],
                          'review': 'reviews/2026-11-27-initial.md',
                          'expires': '2027-11-27'},
            'task_retries': {'purpose': 'How many times the failed task had already been retried, to tell a '
                                        'first failure from a task that keeps failing.',
                             'sensitivity': 'technical',
                             'level': 'crash',
                             'retention_days': 90,
                             'access': ['viewer', 'developer', 'admin'],
                             'review': 'reviews/2026-11-27-initial.md',
                             'expires': '2027-11-27'},
            'dist': {'purpose': 'The build variant of the application version (for example a platform '
                                'build), to tell builds of one release apart.',
                     'sensitivity': 'technical',
                     'level': 'crash',
                     'retention_days': 90,
                     'access': ['viewer', 'developer', 'privacy-officer', 'admin'],
                     'review': 'reviews/2026-11-27-initial.md',
                     'expires': '2027-11-27'},
            'deployment': {'purpose': 'Which deployment of the application reported the crash (for example '
                                      'production or staging), so test crashes are not counted with real '
                                      'ones.',
                           'sensitivity': 'technical',
                           'level': 'crash',
                           'retention_days': 90,
                           'access': ['viewer', 'developer', 'privacy-officer', 'admin'],
                           'review': 'reviews/2026-11-27-initial.md',
                           'forwardable': True,
                           'expires': '2027-11-27'},
            'severity': {'purpose': 'How serious the application rated the problem (fatal, error, warning, '
                                    'info, debug), to fix the worst first.',
                         'sensitivity': 'technical',
                         'level': 'crash',
                         'retention_days': 90,
                         'access': ['viewer', 'developer', 'privacy-officer', 'admin'],
                         'review': 'reviews/2026-11-27-initial.md',
                         'forwardable': True,
                         'expires': '2027-11-27'},
            'logger': {'purpose': 'The name of the part of the application that logged the problem (for '
                                  'example shop.billing), to find the code.',
                       'sensitivity': 'technical',
                       'level': 'crash',
                       'retention_days': 90,
                       'access': ['viewer', 'developer', 'admin'],
                       'review': 'reviews/2026-11-27-initial.md',
                       'expires': '2027-11-27'},
            'platform': {'purpose': 'The programming platform of the application (for example python or '
                                    'javascript), to read the stack correctly.',
                         'sensitivity': 'technical',
                         'level': 'crash',
                         'retention_days': 90,
                         'access': ['viewer', 'developer', 'privacy-officer', 'admin'],
                         'review': 'reviews/2026-11-27-initial.md',
                         'forwardable': True,
                         'expires': '2027-11-27'},
            'handled': {'purpose': 'Whether the application caught the error itself or it ended the program, '
                                   'to fix crashes first.',
                        'sensitivity': 'technical',
                        'level': 'crash',
                        'retention_days': 90,
                        'access': ['viewer', 'developer', 'admin'],
                        'review': 'reviews/2026-11-27-initial.md',
                        'forwardable': True,
                        'expires': '2027-11-27'},
            'device_class': {'purpose': 'The kind of device (desktop, mobile, tablet, server...), never its '
                                        'model or name, because some crashes happen on one kind only.',
                             'sensitivity': 'quasi-identifier',
                             'level': 'crash',
                             'retention_days': 90,
                             'access': ['viewer', 'developer', 'admin'],
                             'review': 'reviews/2026-11-27-initial.md',
                             'expires': '2027-11-27'},
            'transaction': {'purpose': 'The name of the screen, route or task that was running (for example '
                                       '/checkout), with personal data removed, to find the code.',
                            'sensitivity': 'technical',
                            'level': 'crash',
                            'retention_days': 90,
                            'access': ['developer', 'admin'],
                            'review': 'reviews/2026-11-27-initial.md',
                            'expires': '2027-11-27'},
            'tags': {'purpose': 'Labels the application put on the crash, only those named below (for '
                                'example which feature was in use), values shortened and with personal data '
                                'removed.',
                     'sensitivity': 'quasi-identifier',
                     'level': 'crash',
                     'retention_days': 90,
                     'access': ['developer', 'admin'],
                     'review': 'reviews/2026-11-27-initial.md',
                     'expires': '2027-11-27',
                     'keys': ['feature', 'component', 'handled']},
            'grouping': {'purpose': "The developers' own rule for which crashes are the same (a few short "
                                    'labels, personal data removed), so repeats are grouped as they intend.',
                         'sensitivity': 'technical',
                         'level': 'crash',
                         'retention_days': 90,
                         'access': ['developer', 'admin'],
                         'review': 'reviews/2026-11-27-initial.md',
                         'expires': '2027-11-27'},
            'message_template': {'purpose': 'The text of a logged problem as written in the code, without '
                                            "the values filled in (for example 'payment %s declined'), "
                                            'personal data removed, to name and group it.',
                                 'sensitivity': 'free-text',
                                 'level': 'diagnostic',
                                 'retention_days': 30,
                                 'access': ['developer'],
                                 'review': 'reviews/2026-11-27-initial.md',
                                 'expires': '2027-05-27'},
            'source_context': {'purpose': "The one line of the application's own source code at each place "
                                          'in the stack (never library code or your data), to read the crash '
                                          'without the source at hand.',
                               'sensitivity': 'free-text',
                               'level': 'diagnostic',
                               'retention_days': 30,
                               'access': ['developer'],
                               'review': 'reviews/2026-11-27-initial.md',
                               'expires': '2027-05-27'}},
 'feedback': {'purpose': 'Lets you tell the developers what you think of how crash data is handled, ask a '
                         'question or state a preference, and read their answer in the application.',
              'topics': ['question', 'concern', 'preference', 'other'],
              'max_chars': 2000,
              'retention_days': 180,
              'access': ['privacy-officer', 'admin'],
              'review': 'reviews/2026-12-07-feedback.md'}}

#: ``canonical_policy(parse_policy(DATA))``: what a consent record stores
CANONICAL: dict[str, Any] = {'name': 'crashveil-default',
 'version': '1.2.0',
 'retention_ceiling_days': 365,
 'levels': ({'name': 'off',
             'rank': 0,
             'title': "Don't send crash reports",
             'description': 'Nothing about crashes is collected, stored on this device or sent.'},
            {'name': 'crash',
             'rank': 1,
             'title': 'Send basic crash reports',
             'description': 'When the application crashes, send which error happened and where in the '
                            "application's code, with the application version and the kind of computer it "
                            'ran on. No messages, no file contents, nothing you typed.'},
            {'name': 'diagnostic',
             'rank': 2,
             'title': 'Send detailed crash reports',
             'description': 'Also send the error message and the last few steps the application took before '
                            'the crash, after personal data such as e-mail addresses, names in file paths '
                            'and passwords has been removed on your device.'}),
 'fields': {'breadcrumbs': {'name': 'breadcrumbs',
                            'purpose': 'The last few steps the application took before the crash (for '
                                       "example 'opened settings'), with personal data removed.",
                            'sensitivity': 'free-text',
                            'level': 'diagnostic',
                            'retention_days': 30,
                            'access': ('developer',),
                            'review': 'reviews/2026-11-27-initial.md',
                            'description': '',
                            'expires': '2027-05-27'},
            'chain': {'name': 'chain',
                      'purpose': 'The errors that led to this one (their kinds and places in the code), to '
                                 'find the root cause.',
                      'sensitivity': 'technical',
                      'level': 'crash',
                      'retention_days': 90,
                      'access': ('developer', 'admin'),
                      'review': 'reviews/2026-11-27-initial.md',
                      'description': '',
                      'expires': '2027-11-27'},
            'client_stats': {'name': 'client_stats',
                             'purpose': 'How many crashes were counted but not sent (sampling, limits, a '
                                        'full queue), so the numbers developers see are honest.',
                             'sensitivity': 'technical',
                             'level': 'crash',
                             'retention_days': 90,
                             'access': ('viewer', 'developer', 'privacy-officer', 'admin'),
                             'review': 'reviews/2026-11-27-initial.md',
                             'description': '',
                             'expires': '2027-11-27'},
            'comment': {'name': 'comment',
                        'purpose': 'What you chose to write about the crash when asked, after personal data '
                                   'has been removed.',
                        'sensitivity': 'free-text',
                        'level': 'crash',
                        'retention_days': 30,
                        'access': ('developer',),
                        'review': 'reviews/2026-11-27-initial.md',
                        'description': '',
                        'expires': '2027-05-27'},
            'consent_level': {'name': 'consent_level',
                              'purpose': 'Records which level you chose, so the server keeps only what that '
                                         'level allows.',
                              'sensitivity': 'technical',
                              'level': 'crash',
                              'retention_days': 90,
                              'access': ('developer', 'privacy-officer', 'admin'),
                              'review': 'reviews/2026-11-27-initial.md',
                              'description': '',
                              'expires': 'never'},
            'crash_type': {'name': 'crash_type',
                           'purpose': 'Says which kind of error happened (for example ValueError), to group '
                                      'and fix crashes.',
                           'sensitivity': 'technical',
                           'level': 'crash',
                           'retention_days': 90,
                           'access': ('viewer', 'developer', 'privacy-officer', 'admin'),
                           'review': 'reviews/2026-11-27-initial.md',
                           'description': '',
                           'forwardable': True,
                           'expires': 'never'},
            'deployment': {'name': 'deployment',
                           'purpose': 'Which deployment of the application reported the crash (for example '
                                      'production or staging), so test crashes are not counted with real '
                                      'ones.',
                           'sensitivity': 'technical',
                           'level': 'crash',
                           'retention_days': 90,
                           'access': ('viewer', 'developer', 'privacy-officer', 'admin'),
                           'review': 'reviews/2026-11-27-initial.md',
                           'description': '',
                           'forwardable': True,
                           'expires': '2027-11-27'},
            'device_class': {'name': 'device_class',
                             'purpose': 'The kind of device (desktop, mobile, tablet, server...), never its '
                                        'model or name, because some crashes happen on one kind only.',
                             'sensitivity': 'quasi-identifier',
                             'level': 'crash',
                             'retention_days': 90,
                             'access': ('viewer', 'developer', 'admin'),
                             'review': 'reviews/2026-11-27-initial.md',
                             'description': '',
                             'expires': '2027-11-27'},
            'dist': {'name': 'dist',
                     'purpose': 'The build variant of the application version (for example a platform '
                                'build), to tell builds of one release apart.',
                     'sensitivity': 'technical',
                     'level': 'crash',
                     'retention_days': 90,
                     'access': ('viewer', 'developer', 'privacy-officer', 'admin'),
                     'review': 'reviews/2026-11-27-initial.md',
                     'description': '',
                     'expires': '2027-11-27'},
            'environment': {'name': 'environment',
                            'purpose': 'The operating system family and major version, Python version and '
                                       'processor type, because many crashes happen on one platform only. '
                                       'Nothing else about your computer.',
                            'sensitivity': 'quasi-identifier',
                            'level': 'crash',
                            'retention_days': 90,
                            'access': ('viewer', 'developer', 'admin'),
                            'review': 'reviews/2026-11-27-initial.md',
                            'description': '',
                            'forwardable': True,
                            'expires': '2027-11-27'},
            'error_code': {'name': 'error_code',
                           'purpose': "The numeric error or exit code (such as 'file not found'), which "
                                      'often explains the crash.',
                           'sensitivity': 'technical',
                           'level': 'crash',
                           'retention_days': 90,
                           'access': ('viewer', 'developer', 'admin'),
                           'review': 'reviews/2026-11-27-initial.md',
                           'description': '',
                           'forwardable': True,
                           'expires': '2027-11-27'},
            'fingerprint': {'name': 'fingerprint',
                            'purpose': 'A short code computed from the error kind and code path, so repeats '
                                       'of one crash are grouped.',
                            'sensitivity': 'technical',
                            'level': 'crash',
                            'retention_days': 90,
                            'access': ('viewer', 'developer', 'privacy-officer', 'admin'),
                            'review': 'reviews/2026-11-27-initial.md',
                            'description': '',
                            'expires': 'never'},
            'grouping': {'name': 'grouping',
                         'purpose': "The developers' own rule for which crashes are the same (a few short "
                                    'labels, personal data removed), so repeats are grouped as they intend.',
                         'sensitivity': 'technical',
                         'level': 'crash',
                         'retention_days': 90,
                         'access': ('developer', 'admin'),
                         'review': 'reviews/2026-11-27-initial.md',
                         'description': '',
                         'expires': '2027-11-27'},
            'handled': {'name': 'handled',
                        'purpose': 'Whether the application caught the error itself or it ended the program, '
                                   'to fix crashes first.',
                        'sensitivity': 'technical',
                        'level': 'crash',
                        'retention_days': 90,
                        'access': ('viewer', 'developer', 'admin'),
                        'review': 'reviews/2026-11-27-initial.md',
                        'description': '',
                        'forwardable': True,
                        'expires': '2027-11-27'},
            'handler': {'name': 'handler',
                        'purpose': "The name of the application's function that answered the request, to "
                                   'find the code to fix.',
                        'sensitivity': 'technical',
                        'level': 'crash',
                        'retention_days': 90,
                        'access': ('developer', 'admin'),
                        'review': 'reviews/2026-11-27-initial.md',
                        'description': '',
                        'expires': '2027-11-27'},
            'http_method': {'name': 'http_method',
                            'purpose': 'The kind of request (GET, POST ...), because a page often fails only '
                                       'when something is sent.',
                            'sensitivity': 'technical',
                            'level': 'crash',
                            'retention_days': 90,
                            'access': ('viewer', 'developer', 'admin'),
                            'review': 'reviews/2026-11-27-initial.md',
                            'description': '',
                            'expires': '2027-11-27'},
            'install_id': {'name': 'install_id',
                           'purpose': 'A code that changes every month and cannot be traced back to you or '
                                      'your computer. It lets developers count how many installations a '
                                      'crash affects and lets you ask for your reports to be deleted.',
                           'sensitivity': 'pseudonymous',
                           'level': 'crash',
                           'retention_days': 90,
                           'access': ('developer', 'privacy-officer', 'admin'),
                           'review': 'reviews/2026-11-27-initial.md',
                           'description': '',
                           'expires': '2027-11-27'},
            'logger': {'name': 'logger',
                       'purpose': 'The name of the part of the application that logged the problem (for '
                                  'example shop.billing), to find the code.',
                       'sensitivity': 'technical',
                       'level': 'crash',
                       'retention_days': 90,
                       'access': ('viewer', 'developer', 'admin'),
                       'review': 'reviews/2026-11-27-initial.md',
                       'description': '',
                       'expires': '2027-11-27'},
            'mechanism': {'name': 'mechanism',
                          'purpose': 'How the crash was caught (main thread, background thread, native '
                                     'fault), to find the cause.',
                          'sensitivity': 'technical',
                          'level': 'crash',
                          'retention_days': 90,
                          'access': ('viewer', 'developer', 'admin'),
                          'review': 'reviews/2026-11-27-initial.md',
                          'description': '',
                          'forwardable': True,
                          'expires': '2027-11-27'},
            'message': {'name': 'message',
                        'purpose': 'The error message, with e-mail addresses, names, numbers and typed text '
                                   'removed, which often says exactly what went wrong.',
                        'sensitivity': 'free-text',
                        'level': 'diagnostic',
                        'retention_days': 30,
                        'access': ('developer',),
                        'review': 'reviews/2026-11-27-initial.md',
                        'description': '',
                        'expires': '2027-05-27'},
            'message_template': {'name': 'message_template',
                                 'purpose': 'The text of a logged problem as written in the code, without '
                                            "the values filled in (for example 'payment %s declined'), "
                                            'personal data removed, to name and group it.',
                                 'sensitivity': 'free-text',
                                 'level': 'diagnostic',
                                 'retention_days': 30,
                                 'access': ('developer',),
                                 'review': 'reviews/2026-11-27-initial.md',
                                 'description': '',
                                 'expires': '2027-05-27'},
            'occurred_hour': {'name': 'occurred_hour',
                              'purpose': 'The hour the crash happened (not the minute), to see whether a '
                                         'crash is new or growing.',
                              'sensitivity': 'quasi-identifier',
                              'level': 'crash',
                              'retention_days': 90,
                              'access': ('viewer', 'developer', 'privacy-officer', 'admin'),
                              'review': 'reviews/2026-11-27-initial.md',
                              'description': '',
                              'expires': '2027-11-27'},
            'platform': {'name': 'platform',
                         'purpose': 'The programming platform of the application (for example python or '
                                    'javascript), to read the stack correctly.',
                         'sensitivity': 'technical',
                         'level': 'crash',
                         'retention_days': 90,
                         'access': ('viewer', 'developer', 'privacy-officer', 'admin'),
                         'review': 'reviews/2026-11-27-initial.md',
                         'description': '',
                         'forwardable': True,
                         'expires': '2027-11-27'},
            'policy_digest': {'name': 'policy_digest',
                              'purpose': 'Proves which version of this policy the report was built under, so '
                                         'the server can check it.',
                              'sensitivity': 'technical',
                              'level': 'crash',
                              'retention_days': 90,
                              'access': ('developer', 'privacy-officer', 'admin'),
                              'review': 'reviews/2026-11-27-initial.md',
                              'description': '',
                              'expires': 'never'},
            'release': {'name': 'release',
                        'purpose': 'The application version, to know which versions a crash affects and '
                                   'whether a fix worked.',
                        'sensitivity': 'technical',
                        'level': 'crash',
                        'retention_days': 90,
                        'access': ('viewer', 'developer', 'privacy-officer', 'admin'),
                        'review': 'reviews/2026-11-27-initial.md',
                        'description': '',
                        'forwardable': True,
                        'expires': '2027-11-27'},
            'report_id': {'name': 'report_id',
                          'purpose': 'A random number for this one report, so it is stored once and you can '
                                     'look up its status.',
                          'sensitivity': 'technical',
                          'level': 'crash',
                          'retention_days': 90,
                          'access': ('developer', 'privacy-officer', 'admin'),
                          'review': 'reviews/2026-11-27-initial.md',
                          'description': '',
                          'expires': 'never'},
            'route': {'name': 'route',
                      'purpose': 'The kind of page or API call that crashed, as the application defines it '
                                 '(for example /users/{id}), never the address actually opened, so crashes '
                                 'of one page are found together.',
                      'sensitivity': 'technical',
                      'level': 'crash',
                      'retention_days': 90,
                      'access': ('viewer', 'developer', 'admin'),
                      'review': 'reviews/2026-11-27-initial.md',
                      'description': '',
                      'expires': '2027-11-27'},
            'schema_version': {'name': 'schema_version',
                               'purpose': 'Lets the server read the report in the format it was written in.',
                               'sensitivity': 'technical',
                               'level': 'crash',
                               'retention_days': 90,
                               'access': ('viewer', 'developer', 'privacy-officer', 'admin'),
                               'review': 'reviews/2026-11-27-initial.md',
                               'description': '',
                               'expires': 'never'},
            'severity': {'name': 'severity',
                         'purpose': 'How serious the application rated the problem (fatal, error, warning, '
                                    'info, debug), to fix the worst first.',
                         'sensitivity': 'technical',
                         'level': 'crash',
                         'retention_days': 90,
                         'access': ('viewer', 'developer', 'privacy-officer', 'admin'),
                         'review': 'reviews/2026-11-27-initial.md',
                         'description': '',
                         'forwardable': True,
                         'expires': '2027-11-27'},
            'source_context': {'name': 'source_context',
                               'purpose': "The one line of the application's own source code at each place "
                                          'in the stack (never library code or your data), to read the crash '
                                          'without the source at hand.',
                               'sensitivity': 'free-text',
                               'level': 'diagnostic',
                               'retention_days': 30,
                               'access': ('developer',),
                               'review': 'reviews/2026-11-27-initial.md',
                               'description': '',
                               'expires': '2027-05-27'},
            'stack': {'name': 'stack',
                      'purpose': "Where in the application's own code the crash happened: file names inside "
                                 'the application, function names and line numbers. No values of your data.',
                      'sensitivity': 'technical',
                      'level': 'crash',
                      'retention_days': 90,
                      'access': ('developer', 'admin'),
                      'review': 'reviews/2026-11-27-initial.md',
                      'description': '',
                      'expires': '2027-11-27'},
            'status_code': {'name': 'status_code',
                            'purpose': 'The result code the server answered (for example 500), to tell a '
                                       'failed request from one that failed halfway.',
                            'sensitivity': 'technical',
                            'level': 'crash',
                            'retention_days': 90,
                            'access': ('viewer', 'developer', 'admin'),
                            'review': 'reviews/2026-11-27-initial.md',
                            'description': '',
                            'expires': '2027-11-27'},
            'tags': {'name': 'tags',
                     'purpose': 'Labels the application put on the crash, only those named below (for '
                                'example which feature was in use), values shortened and with personal data '
                                'removed.',
                     'sensitivity': 'quasi-identifier',
                     'level': 'crash',
                     'retention_days': 90,
                     'access': ('developer', 'admin'),
                     'review': 'reviews/2026-11-27-initial.md',
                     'description': '',
                     'keys': ('component', 'feature', 'handled'),
                     'expires': '2027-11-27'},
            'task_name': {'name': 'task_name',
                          'purpose': 'The name of the background task that failed (for example '
                                     "'shop.tasks.send_invoice'), a name from the application's code, to "
                                     "tell which task crashes. Never the task's inputs or results.",
                          'sensitivity': 'technical',
                          'level': 'crash',
                          'retention_days': 90,
                          'access': ('viewer', 'developer', 'admin'),
                          'review': 'reviews/2026-11-27-initial.md',
                          'description': '',
                          'expires': '2027-11-27'},
            'task_retries': {'name': 'task_retries',
                             'purpose': 'How many times the failed task had already been retried, to tell a '
                                        'first failure from a task that keeps failing.',
                             'sensitivity': 'technical',
                             'level': 'crash',
                             'retention_days': 90,
                             'access': ('viewer', 'developer', 'admin'),
                             'review': 'reviews/2026-11-27-initial.md',
                             'description': '',
                             'expires': '2027-11-27'},
            'transaction': {'name': 'transaction',
                            'purpose': 'The name of the screen, route or task that was running (for example '
                                       '/checkout), with personal data removed, to find the code.',
                            'sensitivity': 'technical',
                            'level': 'crash',
                            'retention_days': 90,
                            'access': ('developer', 'admin'),
                            'review': 'reviews/2026-11-27-initial.md',
                            'description': '',
                            'expires': '2027-11-27'}},
 'redaction': {'detectors': ('pem_private_key',
                             'url_credentials',
                             'connection_string',
                             'jwt',
                             'api_key',
                             'email',
                             'home_path',
                             'unc_path',
                             'iban',
                             'card_number',
                             'national_id',
                             'uuid',
                             'mac',
                             'ipv6',
                             'ipv4',
                             'phone',
                             'query_values',
                             'quoted_input',
                             'hostname',
                             'high_entropy',
                             'person_name',
                             'street_address',
                             'env_user'),
               'placeholders': {}},
 'sampling': {'rate': 1.0, 'overrides': ({'release': None, 'cohort': 'beta', 'value': 0.5},)},
 'limits': {'reports_per_hour': 10,
            'reports_per_day': 50,
            'dedupe_window_s': 3600,
            'queue_max_reports': 30,
            'queue_max_bytes': 2000000,
            'queue_max_age_days': 30,
            'overrides': ()},
 'aggregation': {'min_k': 5,
                 'rollup_retention_days': 365,
                 'window_days': 7,
                 'dp_epsilon_per_year': 10.0,
                 'dp_delta': 1e-06},
 'keys': {'pseudonym_rotation_days': 30,
          'data_key_days': 1,
          'kek_cryptoperiod_days': 365,
          'hpke_key_cryptoperiod_days': 365,
          'signing_key_cryptoperiod_days': 730},
 'notice': {'app_name': 'this application',
            'controller': 'the developers of this application',
            'contact': "the support address given in the application's About box",
            'deletion': 'Choose "Stop sending crash reports" in the application\'s settings: the reports '
                        'already on your device are deleted at once and the server is asked to delete every '
                        'report sent from this installation.'},
 'server_mode_max_level': 'crash',
 'adoption': {'purpose': 'Tells developers how many installations run each version, so they can see what '
                         'share of them crashed and whether a new version is safe to roll out further.',
              'level': 'crash',
              'retention_days': 90,
              'access': ('viewer', 'developer', 'privacy-officer', 'admin'),
              'review': 'reviews/2026-12-07-adoption.md'},
 'expiry_warning_days': 30,
 'feedback': {'purpose': 'Lets you tell the developers what you think of how crash data is handled, ask a '
                         'question or state a preference, and read their answer in the application.',
              'topics': ('question', 'concern', 'preference', 'other'),
              'max_chars': 2000,
              'retention_days': 180,
              'access': ('privacy-officer', 'admin'),
              'review': 'reviews/2026-12-07-feedback.md'}}

#: ``policy_digest(parse_policy(DATA))``
DIGEST = 'sha256:bd234ef29618c2ad2da06d9053082e79dc9f0595f23a6770d1b663a69afebb5d'
