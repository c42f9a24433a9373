"""The load: the profile (how many users, how long, closed or open model), the locustfile that
applies it, and the request mix every stage receives."""
