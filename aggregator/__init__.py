"""aggregator: a planet for left and labour news.

A library that logs gets a NullHandler so that embedding it never prints unless the
application configures logging.
"""

import logging
import sys

__version__ = "0.1.0"

logging.getLogger(__name__).addHandler(logging.NullHandler())

# httpx imports its own command-line client whenever Click and Rich are installed, as they are
# for ours: Rich's syntax highlighting and Pygments' lexers, 5.7 MiB and a tenth of a second in
# every process that downloads, for a client nothing here runs. httpx goes without it when that
# import fails, which a None in sys.modules makes it do.
sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]
