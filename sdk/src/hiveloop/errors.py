"""The SDK's only public exception.

HiveLoop raises only at set-up time (``init``, ``hb.agent``), when the
arguments cannot work. Once an agent runs, nothing the SDK does raises into
it: delivery problems are counted in ``hb.stats()`` and logged instead.
"""


class HiveLoopError(Exception):
    """A HiveLoop call was given arguments it cannot work with.

    The message names the argument and says what is accepted.
    """
