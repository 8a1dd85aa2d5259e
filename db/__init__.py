"""Database side of Madinina Monitor: embedded PostgreSQL, connection settings, versioned migrations."""
