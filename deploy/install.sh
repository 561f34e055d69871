#!/bin/sh
# Install the crashveil server into a Python virtual environment.
# The one install step that docs/deploy.md, deploy/Containerfile and tests/deploy/test_install.py
# all run, so the guide, the image and the tests cannot drift apart.
#
# Usage: sh deploy/install.sh PREFIX [REQUIREMENT]
#   PREFIX       the virtual environment to create, or update in place (e.g. /opt/crashveil)
#   REQUIREMENT  what pip installs; default 'crashveil[server]'. Pin it for a reproducible
#                install ('crashveil[server]==1.2.0'), or give a wheel or source tree
#                ('./crashveil-1.2.0-py3-none-any.whl[server]').
# Needs python3 >= 3.11 with its venv module (Debian: apt-get install python3 python3-venv).
# PYTHON selects another interpreter.
set -eu

prefix=${1:?usage: install.sh PREFIX [REQUIREMENT]}
requirement=${2:-crashveil[server]}
python=${PYTHON:-python3}

"$python" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "crashveil needs Python 3.11 or later")'
"$python" -m venv "$prefix"
"$prefix/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade "$requirement"
# The server's command must load (its dependencies are all there).
"$prefix/bin/crashveil" server --help >/dev/null
echo "crashveil installed: $prefix/bin/crashveil"
