"""Subcommands of the ``lotse`` CLI that live in the lotse package itself.

Each module is imported only when its command runs (``lotse.cli.COMMANDS``).
"""
