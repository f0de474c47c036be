"""The one name for a stored document: a JSON-like mapping as PyMongo reads and writes it."""

from __future__ import annotations

from typing import Any

Doc = dict[str, Any]
