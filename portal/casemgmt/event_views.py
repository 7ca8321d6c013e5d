"""event_views"""
