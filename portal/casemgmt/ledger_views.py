"""ledger_views"""
