"""Work that one process's concurrent requests share: what they ask in one event-loop turn goes
out as one batch (turn.TurnBatcher), for the authentication and rate-limit count in Redis
(admission), the paid insert, and the submit messages sent after the commit (publisher);
pipeline ties the last two into the object the submit endpoint is given.
"""
