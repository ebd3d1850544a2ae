"""The one exception tree of the project.

    AggregatorError
    ├── ConfigError        feeds.yaml cannot be used; carries every problem with its line
    ├── StorageError       the database cannot be opened, migrated or written
    ├── OutputError        the output directory cannot be written
    └── FeedError(url)     one feed failed; recorded on the feed, never fatal to a run
        ├── FetchError     the network or the server
        └── ParseError     the body is not a feed we can read

Expected failures of one feed travel as values (FetchResult.error, FeedOutcome.error); these
exceptions mark the places where a stage gives up, and the CLI turns the first three into exit
codes with a clean message.
"""

from dataclasses import dataclass


class AggregatorError(Exception):
    """Base of every error the project raises on purpose."""


@dataclass(frozen=True)
class ConfigProblem:
    """One thing wrong in feeds.yaml, located so a maintainer can go straight to it."""

    path: str
    line: int | None
    where: str
    message: str

    def __str__(self) -> str:
        location = f"{self.path}:{self.line}" if self.line else self.path
        where = f" {self.where}:" if self.where else ""
        return f"{location}:{where} {self.message}"


class ConfigError(AggregatorError):
    def __init__(self, problems: list[ConfigProblem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(problem) for problem in problems))


class StorageError(AggregatorError):
    """The database is unreachable, locked, or its schema cannot be brought up to date."""


class OutputError(AggregatorError):
    """The site cannot be written (missing permission, full disk); the old site stays."""


class FeedError(AggregatorError):
    def __init__(self, url: str, reason: str) -> None:
        self.url = url
        self.reason = reason
        super().__init__(f"{url}: {reason}")


class FetchError(FeedError):
    pass


class ParseError(FeedError):
    pass
