"""``python -m plumbline`` is the ``plumbline`` command."""

from plumbline.cli import main

raise SystemExit(main())
