"""The read side: tenant-scoped, index-backed SQL behind the Query API (one module per resource)."""
