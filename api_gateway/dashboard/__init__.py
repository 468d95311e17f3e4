"""The account dashboard: server-rendered pages for the people who hold the API keys.

Every page and action calls the same functions as the API routes (the videos list, cancel,
delete, uploads, submission, keys, ledger, webhook deliveries), scoped to the signed-in
account. Sessions, CSRF and sign-in limits are in sessions.py; pages in routes/*.
"""
