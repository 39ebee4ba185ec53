"""The exceptions marketcache raises. Every one is a :class:`marketcache.Error`; its message
carries the whole chain of causes (never an API key or a database password)."""


class Error(Exception):
    """Any failure of marketcache."""


class InvalidInput(Error, ValueError):
    """An argument or a setting is invalid; the message names it and the rule. Nothing was
    opened or written."""


class UnknownSymbol(Error, LookupError):
    """The provider does not know the symbol."""


class RateLimited(Error):
    """The provider throttles requests, or its request budget (per minute or per day, shared by
    every process on the cache) is spent; the message says when to try again."""


class Unreachable(Error, ConnectionError):
    """The provider or the database could not be reached. What is cached can still be read
    with ``offline=True``."""


class ProviderError(Error):
    """The provider answered with an error (refused access, its own error text) or with data
    that could not be read."""


class DatabaseError(Error):
    """The database failed (disk full, read-only file, a query error)."""


class NoData(Error):
    """The range holds no bar to backtest or search."""


__all__ = [
    "Error",
    "InvalidInput",
    "UnknownSymbol",
    "RateLimited",
    "Unreachable",
    "ProviderError",
    "DatabaseError",
    "NoData",
]
