"""Residents decide: micro-project proposals (和谐微实事), secret ballots and their tally, funded projects under a
yearly budget cap, and deliberation councils (议事会) with the 四议两公开 procedure."""
