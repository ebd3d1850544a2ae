"""What every parsing worker needs, loaded once by the server process that forks them (see
update.Readers), so that the workers start at once and share its pages instead of each
loading a copy: the reading stack, with the parsing, sanitizing and language-detecting
libraries.

Only that server process imports this module.
"""

import gc

# What the workers run, imported before the fork.
import aggregator.normalize
import aggregator.parse
import aggregator.read  # noqa: F401

# The collector writes to every object it examines, and a page a worker writes to becomes
# its own copy: frozen, the objects loaded above are never examined, and their pages stay
# shared with this process.
gc.freeze()
