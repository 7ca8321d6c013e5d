"""Outcomes for re-privileging: a surgeon's cases and adverse events per technology and per grade, against the
department's and the hospital's rates; shown on the privilege renewal page and the capability person page."""
