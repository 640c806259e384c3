"""Optional integrations built on the public HiveLoop API."""
