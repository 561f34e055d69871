"""A Tk form whose "Save" button crashes: Tk prints the error and carries on; crashveil reports
it (Tk never passes it to ``sys.excepthook``). The names and addresses typed into the form are
not in the report.

    python examples/integrations/tk_app.py --dsn 'crashveil://...' --cert client.pem \\
        --key client.key --data-dir DIR --consent diagnostic [--auto]

``--auto`` presses Save itself and closes the window (the demo and CI; needs a display,
e.g. ``xvfb-run``).
"""

from __future__ import annotations

import sys
import tkinter  # imported before crashveil.init(): its integration is installed

from _common import start  # beside this script: python puts its directory first on sys.path

import crashveil


def build(root: tkinter.Tk) -> tkinter.Button:
    root.title("Contacts")
    name = tkinter.Entry(root)
    name.insert(0, "Carol Diaz")
    age = tkinter.Entry(root)
    age.insert(0, "thirty-two")
    for widget in (tkinter.Label(root, text="Name"), name, tkinter.Label(root, text="Age"), age):
        widget.pack()

    def save() -> None:
        years = int(age.get())  # the bug: the age may be text
        print("saved", name.get(), years)

    button = tkinter.Button(root, text="Save", command=save)
    button.pack()
    return button


def main() -> None:
    auto = "--auto" in sys.argv
    if auto:
        sys.argv.remove("--auto")
    start(__doc__.splitlines()[0], "contacts-tk")
    root = tkinter.Tk()
    save = build(root)
    if auto:
        root.after(50, save.invoke)
        root.after(100, root.destroy)
    root.mainloop()
    print("sent:", crashveil.flush(10.0))


if __name__ == "__main__":
    main()
