"""Restricted-technology filings (限制类技术备案): first case, deadline tracker, documents, reminders."""
