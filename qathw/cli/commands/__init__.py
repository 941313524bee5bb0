"""Subcommand modules; each lists its command classes in ``COMMANDS``."""
