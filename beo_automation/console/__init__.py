"""The operations console: the admin site whose index shows the ops overview (issue 12)."""
