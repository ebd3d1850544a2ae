"""What every parsing worker needs, loaded once by the server process that forks them (see
update.Readers), so that the workers start at once and share its pages instead of each
loading a copy: the reading stack, with the parsing, sanitizing and language-detecting
libraries.

Only that server process imports this module.
"""

# What the workers run, imported before the fork.
import aggregator.normalize
import aggregator.parse
import aggregator.read  # noqa: F401
