"""FIX (consolidation): 14 services became 4 domain services.

auth/token/session → identity; user/profile/prefs → user; report/export/pdf → jobs;
the scattered rest (audit, notification, billing, search) → core-api.
"""
