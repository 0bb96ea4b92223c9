#!/usr/bin/env python
"""Django's command-line utility for OrderFin."""

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
# The wiring lives in platform/orderfin; platform/ is a path entry, never a package
# (a package named "platform" would shadow the standard library's module).
sys.path.insert(0, str(ROOT / "platform"))


def main():
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "orderfin.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
