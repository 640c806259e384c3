"""HiveBoard: self-hosted server and dashboard for HiveLoop."""
