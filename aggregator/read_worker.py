"""What every parsing worker needs, loaded once by the server process that forks them (see
update.Readers), so that the workers share its pages instead of each loading a copy: the
reading stack, parsing and normalizing libraries included, and the language model (about
70 MB, most of a worker's memory).

Importing this module loads the model; only that server process imports it.
"""

# What the workers run, imported before the fork.
import aggregator.normalize
import aggregator.parse
import aggregator.read  # noqa: F401
from aggregator.language import load_model

load_model()
