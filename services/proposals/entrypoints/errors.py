"""The error shape lives in services/common/errors.py (every service answers in it)."""

from smartcity_th.services.common.errors import dotted, field_errors, thai_message, validation_body

__all__ = ["dotted", "field_errors", "thai_message", "validation_body"]
