"""The SaaS domain every stage serves: schema, seed, tokens, response models, rules.

Nothing here changes between stages. A stage only changes how this domain is wired:
which services host which routes, which driver and pool reach PostgreSQL, how services
call each other, how queries load rows, and which server runs the apps.
"""
