"""Catalogue entries: list, revisions, bulk actions, the operation-dictionary import and export."""
