"""Derived state: pure functions from stored facts (and an injected clock) to what operators see."""
