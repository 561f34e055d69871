"""Ready-made consent prompts: one for the terminal, one Tk dialog (stdlib ``tkinter``).

Both show the same three things, read from the policy and the client: the notice (who
collects, why, how to delete), the levels with their plain-language descriptions, and a
preview, the exact redacted report the user would send for an example crash. Both record the
answer with ``grant()``; "Ask me each time" grants the highest level with ``ask_each_time``,
so each crash waits on the device until the user reviews it (``review_pending_*``), may
comment on it (the comment is redacted too) and sends it at that level or a lower one.

Closing a prompt without answering records nothing: no answer is not a yes, and the app
may ask again later.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from collections.abc import Sequence

    from crashveil.policy.model import ConsentLevel
    from crashveil.sdk._records import PendingCrash
    from crashveil.sdk.client import Client
    from crashveil.wire.report import Report

__all__ = ["ask_in_terminal", "review_pending_in_terminal", "ask_with_dialog", "review_pending_with_dialog",
           "example_report", "notice_text", "app_display_name", "installation_code_text"]

DIALOG_TITLE = "Crash reports"
REVIEW_TITLE = "Send this crash report?"


def _client(client: Client | None) -> Client:
    if client is None:
        import crashveil

        client = crashveil._current()  # type: ignore[assignment]
    if not getattr(client, "enabled", False):
        from crashveil.errors import ConfigError

        raise ConfigError("crashveil", "init() was not called", "crashveil.init(...) before asking for consent")
    return client  # type: ignore[return-value]


def _example_crash() -> BaseException:
    try:
        raise FileNotFoundError(2, "No such file or directory: 'settings.ini'")
    except FileNotFoundError as exc:
        return exc


def example_report(client: Client, level: str, example: BaseException | None = None) -> Report | None:
    """The report ``client`` would send at ``level`` for ``example`` (a sample crash by default)."""
    if level == "off":
        return None
    return client.preview(example if example is not None else _example_crash(), level)


def _format_report(report: Report | None) -> str:
    if report is None:
        return "Nothing is collected or sent."
    return json.dumps(report.to_dict(), indent=2, sort_keys=True, ensure_ascii=False)


#: The shipped policy's ``[notice] app_name``: a policy that keeps it leaves the naming to ``init(app_name=)``.
GENERIC_APP_NAME = "this application"


def app_display_name(client: Client) -> str:
    """The app's name as the prompts say it to the user.

    The policy's ``[notice] app_name`` when the policy names the app (the reviewed text wins);
    else ``init(app_name=...)`` (or the program's name it defaults to); else "this application".
    """
    from crashveil.sdk.options import FALLBACK_APP_NAME

    named = client.policy.notice.app_name
    if named != GENERIC_APP_NAME:
        return named
    given = client.options.app_name
    return given if given != FALLBACK_APP_NAME else GENERIC_APP_NAME


def notice_text(client: Client) -> str:
    """A short notice from the policy, naming the app: who, what for, and how to take it back."""
    notice = client.policy.notice
    name = app_display_name(client)
    controller = notice.controller.replace(GENERIC_APP_NAME, name) if name != notice.app_name else notice.controller
    return (f"{name[:1].upper()}{name[1:]} can send a report to {controller} when it crashes, so they "
            f"can fix it. Nothing is sent unless you choose a level below. Reports are encrypted on this device. "
            f"To stop and delete: {notice.deletion}{_feedback_line(client)}")


def _feedback_line(client: Client) -> str:
    """How to send feedback on the data practice, when the policy offers the channel ("" otherwise)."""
    if client.policy.feedback is None:
        return ""
    return (f" Questions or concerns about this? Use \"Privacy feedback\" in the application's settings (any "
            f"choice, even \"off\") or write to {client.policy.notice.contact}.")


def installation_code_text(client: Client) -> str | None:
    """The installation code and what it is for; None before the user first chose a level."""
    code = client.installation_code()
    if code is None:
        return None
    return (f"Installation code: {code}. Even after you uninstall {app_display_name(client)}, "
            f"whoever holds this code can have every crash report of this installation deleted: "
            f"give it to {client.policy.notice.controller} only when you ask them to.")


# -- terminal ---------------------------------------------------------------------------------

def ask_in_terminal(client: Client | None = None, *, example: BaseException | None = None,
                    input: Callable[[str], str] = input, output: TextIO | None = None) -> str | None:
    """Ask on the terminal which level the user grants; returns it, or None if unanswered."""
    client = _client(client)
    out = output or sys.stdout
    levels = client.policy.levels
    out.write(notice_text(client) + "\n\n")
    code_text = installation_code_text(client)
    if code_text is not None:
        out.write(code_text + "\n\n")
    for index, level in enumerate(levels):
        out.write(f"  {index}) {level.title}\n     {level.description}\n")
    top = levels[-1]
    out.write(f"  a) Ask me each time a crash happens ({top.title.lower()}, after I review each one)\n")
    out.write("  p) Show an example of the report I would send\n")
    while True:
        try:
            answer = input(f"Your choice (0-{len(levels) - 1}, a, p; Enter to decide later): ").strip().lower()
        except EOFError:
            return None
        if answer == "":
            return None
        if answer == "p":
            for level in levels[1:]:
                out.write(f"\n--- {level.title} ---\n{_format_report(example_report(client, level.name, example))}\n")
            continue
        if answer == "a":
            client.grant(top.name, ask_each_time=True)
            return top.name
        if answer.isdigit() and int(answer) < len(levels):
            chosen = levels[int(answer)].name
            client.grant(chosen, ask_each_time=False)
            return chosen
        out.write("Please answer with one of the listed choices.\n")


def review_pending_in_terminal(client: Client | None = None, *, input: Callable[[str], str] = input,
                               output: TextIO | None = None) -> int:
    """Ask about each crash kept on the device; returns how many were sent."""
    client = _client(client)
    out = output or sys.stdout
    sent = 0
    for crash in client.pending():
        out.write(f"\n{REVIEW_TITLE}\n{_format_report(crash.report)}\n")
        try:
            answer = input("Send it? [y = yes, n = no, Enter = later]: ").strip().lower()
            if answer not in ("y", "n"):
                continue
            comment = input("Anything to add? (optional, personal data is removed): ") if answer == "y" else ""
        except EOFError:
            return sent
        if answer == "y":
            client.decide(crash.id, crash.level, comment or None)
            sent += 1
        else:
            client.decide(crash.id, None)
    return sent


# -- Tk ---------------------------------------------------------------------------------------

def ask_with_dialog(client: Client | None = None, *, example: BaseException | None = None,
                    parent: Any = None) -> str | None:
    """A modal Tk dialog: notice, levels, "ask me each time", live preview. Returns the level
    granted, or None when closed without an answer.

    Keys: the digits choose a level, ``a`` toggles "ask me each time", Return saves, Escape
    closes. Needs a display; raises ``RuntimeError`` (from tkinter) without one.
    """
    import tkinter as tk
    from tkinter import ttk

    client = _client(client)
    name = app_display_name(client)
    root, frame = _window(parent, DIALOG_TITLE if name == GENERIC_APP_NAME else f"{DIALOG_TITLE}: {name}")
    ttk.Label(frame, text=notice_text(client), wraplength=560, justify="left").pack(anchor="w", pady=(0, 8))
    code_text = installation_code_text(client)
    if code_text is not None:
        ttk.Label(frame, text=code_text, wraplength=560, justify="left").pack(anchor="w", pady=(0, 8))

    levels = client.policy.levels
    choice = tk.StringVar(root, value=client.level())
    each_time = tk.BooleanVar(root, value=False)
    result: dict[str, str | None] = {"level": None}

    preview = tk.Text(frame, width=80, height=16, wrap="word")

    def refresh(*_: Any) -> None:
        _show_text(preview, _format_report(example_report(client, choice.get(), example)))

    _level_choices(frame, levels, choice, refresh)
    ttk.Checkbutton(frame, text="Ask me each time a crash happens (a)", variable=each_time).pack(anchor="w",
                                                                                              pady=(6, 6))
    ttk.Label(frame, text="What would be sent for an example crash:").pack(anchor="w")
    preview.pack(fill="both", expand=True)

    def save(*_: Any) -> None:
        level = choice.get()
        client.grant(level, ask_each_time=each_time.get() and level != "off")
        result["level"] = level
        root.destroy()

    def cancel(*_: Any) -> None:
        root.destroy()

    _buttons(frame, ("Not now", cancel), ("Save choice", save))

    def pick(event: Any) -> None:
        if event.char.isdigit() and int(event.char) < len(levels):
            choice.set(levels[int(event.char)].name)
            refresh()

    root.bind("<Key>", pick)
    root.bind("a", lambda _e: each_time.set(not each_time.get()))
    root.bind("<Return>", save)
    root.bind("<Escape>", cancel)
    root.protocol("WM_DELETE_WINDOW", cancel)
    refresh()
    root.after(50, root.focus_force)
    _run_modal(root, parent)
    return result["level"]


def review_pending_with_dialog(client: Client | None = None, *, parent: Any = None) -> int:
    """One Tk dialog per crash kept on the device: the report, a comment box, Send / Don't send.

    Keys: Control-Return sends, Escape does not send. Returns how many were sent.
    """
    client = _client(client)
    sent = 0
    for crash in client.pending():
        answer = _review_dialog(crash, parent)
        if answer is None:
            continue
        send, comment = answer
        if send:
            client.decide(crash.id, crash.level, comment or None)
            sent += 1
        else:
            client.decide(crash.id, None)
    return sent


def _review_dialog(crash: PendingCrash, parent: Any) -> tuple[bool, str] | None:
    """One modal dialog for one kept crash: (send it?, the user's comment), or None when the
    window was closed without an answer (the crash stays kept)."""
    import tkinter as tk
    from tkinter import ttk

    root, frame = _window(parent, REVIEW_TITLE)
    ttk.Label(frame, text="The application crashed last time. This is the report it would send:",
              wraplength=560).pack(anchor="w")
    text = tk.Text(frame, width=80, height=14, wrap="word")
    _show_text(text, _format_report(crash.report))
    text.pack(fill="both", expand=True)
    ttk.Label(frame, text="Anything to add? (optional; personal data is removed before sending)").pack(anchor="w")
    comment = tk.Text(frame, width=80, height=4, wrap="word")
    comment.pack(fill="x")
    answers: list[tuple[bool, str]] = []

    def send(*_: Any) -> str:
        answers.append((True, comment.get("1.0", "end").strip()))
        root.destroy()
        return "break"

    def drop(*_: Any) -> None:
        answers.append((False, ""))
        root.destroy()

    def focus() -> None:
        root.focus_force()
        comment.focus_set()

    _buttons(frame, ("Don't send", drop), ("Send", send))
    root.bind("<Control-Return>", send)
    root.bind("<Escape>", drop)
    root.protocol("WM_DELETE_WINDOW", root.destroy)
    root.after(50, focus)
    _run_modal(root, parent)
    return answers[-1] if answers else None


def _window(parent: Any, title: str) -> tuple[Any, Any]:
    """A new window (``Tk``, or a ``Toplevel`` of ``parent``) titled ``title``, and its padded frame."""
    import tkinter as tk
    from tkinter import ttk

    root = tk.Tk() if parent is None else tk.Toplevel(parent)
    root.title(title)
    frame = ttk.Frame(root, padding=12)
    frame.pack(fill="both", expand=True)
    return root, frame


def _level_choices(frame: Any, levels: Sequence[ConsentLevel], choice: Any, on_pick: Callable[[], None]) -> None:
    """One numbered radio button per consent level, each with its plain-language description."""
    from tkinter import ttk

    for index, level in enumerate(levels):
        ttk.Radiobutton(frame, text=f"{index}. {level.title}", value=level.name, variable=choice,
                        command=on_pick).pack(anchor="w")
        ttk.Label(frame, text=level.description, wraplength=540, foreground="#555").pack(anchor="w", padx=(24, 0))


def _show_text(widget: Any, text: str) -> None:
    """Replace the text of a read-only ``Text`` widget."""
    widget.configure(state="normal")
    widget.delete("1.0", "end")
    widget.insert("1.0", text)
    widget.configure(state="disabled")


def _buttons(frame: Any, *buttons: tuple[str, Callable[..., Any]]) -> None:
    """A row of buttons at the bottom right, the first one rightmost."""
    from tkinter import ttk

    row = ttk.Frame(frame)
    row.pack(fill="x", pady=(8, 0))
    for index, (text, command) in enumerate(buttons):
        button = ttk.Button(row, text=text, command=command)
        if index == 0:
            button.pack(side="right")
        else:
            button.pack(side="right", padx=6)


def _run_modal(root: Any, parent: Any) -> None:
    """Run ``root`` until it closes: in its own main loop, or modal over ``parent``."""
    if parent is None:
        root.mainloop()
    else:
        root.grab_set()
        root.wait_window()
