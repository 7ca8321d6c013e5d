"""task_views"""
