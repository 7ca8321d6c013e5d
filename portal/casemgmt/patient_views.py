"""patient_views"""
