"""The one Excel framework: every import and export in the portal goes through here."""
