"""The service ledger: every service delivered, ad-hoc services, the monthly service report."""
