"""Satisfaction surveys, adverse events and complaints."""
