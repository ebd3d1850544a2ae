"""aggregator: a planet for left and labour news.

A library that logs gets a NullHandler so that embedding it never prints unless the
application configures logging.
"""

import logging

__version__ = "0.1.0"

logging.getLogger(__name__).addHandler(logging.NullHandler())
