"""One file per dashboard, data only: each defines ``DASHBOARD`` from the blocks of ``../dashboards.py``.

The file name is the JSON file's name (``balance_sheet.py`` is written as ``balance-sheet.json``);
``plumbline dashboards`` picks up every file here.
"""
