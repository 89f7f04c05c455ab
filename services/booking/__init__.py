"""Venue booking (社区场馆预约): slots, the seat guard, waitlist offers, check-in and no-shows."""
