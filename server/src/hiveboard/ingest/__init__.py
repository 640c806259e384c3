"""Ingest: parse and validate ``POST /v1/ingest`` bodies (wire-format.md) before storage."""
