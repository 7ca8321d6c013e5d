"""The installed domains, in the order their blueprints, nav entries, seeds and demo data are taken.

Adding a domain is its package (with ``DOMAIN = Domain(...)`` in its ``__init__.py``) plus one line here.
"""

INSTALLED = [
    "portal.main",
    "portal.auth",
    "portal.audit",
    "portal.notify",
    "portal.wecom",
    "portal.approvals",
    "portal.supervision",
    "portal.catalogue",
    "portal.credentials",
    "portal.quality",
    "portal.io",
    "portal.reports",
    "portal.casemgmt",
    "portal.study",
    "portal.budget",
    "portal.projects",
    "portal.api",
]
