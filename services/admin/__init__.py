"""The registry admin: `smartcity-admin` (the only writer of the agency registry topic)."""
