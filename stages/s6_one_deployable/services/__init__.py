"""FIX (the internal hop): identity, user and jobs become modules of the edge's process.

The service boundary of s1 stays in the code (the same queries, the same units of work), not on
the wire: a client request is served by one process, with no HTTP client, no second server and
no second JSON round trip per request.
"""
