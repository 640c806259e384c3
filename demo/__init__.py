"""A simulated HiveLoop fleet and the ``make demo`` orchestration.

Everything here talks to HiveBoard through the public ``hiveloop`` API only, so the
demo doubles as a worked example of instrumenting real agents.
"""
