"""pathway_views"""
