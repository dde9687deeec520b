"""The command line: ``python -m core {presets,run,bench,checks,runs,sweep,real}``.

One module per group of subcommands; ``main.py`` builds the parser. Bad input exits with code 2
and a one-line message before any work starts.

May import: every other package of ``core``. Nothing imports the command line but the
``__main__`` entry points.
"""
