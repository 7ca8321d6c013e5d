"""plan_views"""
