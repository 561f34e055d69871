"""Desktop and notebook integrations: the crashes an event loop prints and survives.

``tkinter.py`` callback exceptions, ``qt.py`` slot exceptions (PySide6), ``ipython.py`` cell
exceptions. Nothing is imported here: a toolkit's module is loaded only when it is wanted.
"""
