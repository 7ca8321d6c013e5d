"""kpi_views"""
