"""A Qt (PySide6) window whose slot crashes: PySide6 prints the error and the event loop carries
on; crashveil reports it as a ``qt`` crash. The text in the widgets is not in the report.

    python examples/integrations/qt_app.py --dsn 'crashveil://...' --cert client.pem \\
        --key client.key --data-dir DIR --consent diagnostic [--auto]

``--auto`` clicks the button itself and quits (the demo and CI; use
``QT_QPA_PLATFORM=offscreen`` without a display).
"""

from __future__ import annotations

import sys

from _common import start  # beside this script: python puts its directory first on sys.path
from PySide6.QtCore import QTimer  # imported before crashveil.init(): its integration is installed
from PySide6.QtWidgets import QApplication, QLineEdit, QPushButton, QVBoxLayout, QWidget

import crashveil


def build(window: QWidget) -> QPushButton:
    window.setWindowTitle("Orders")
    address = QLineEdit("17 Harbour Street, Dana Point")
    quantity = QLineEdit("a dozen")
    button = QPushButton("Order")
    layout = QVBoxLayout(window)
    for widget in (address, quantity, button):
        layout.addWidget(widget)

    def order() -> None:
        count = int(quantity.text())  # the bug: the quantity may be text
        print("ordered", count, "to", address.text())

    button.clicked.connect(order)
    return button


def main() -> None:
    auto = "--auto" in sys.argv
    if auto:
        sys.argv.remove("--auto")
    app = QApplication([])
    start(__doc__.splitlines()[0], "orders-qt")
    window = QWidget()
    button = build(window)
    window.show()
    if auto:
        QTimer.singleShot(50, button.click)
        QTimer.singleShot(100, app.quit)
    app.exec()
    print("sent:", crashveil.flush(10.0))


if __name__ == "__main__":
    main()
