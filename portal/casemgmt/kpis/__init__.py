"""The monthly indicators and their drill-downs."""
