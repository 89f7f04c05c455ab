"""Volunteering: applications and teams, call-ups with shifts and sign-ups, the call-up send."""
