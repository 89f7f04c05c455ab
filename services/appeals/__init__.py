"""Appeals (民意诉求), the closed loop from a resident's message to the rating.

intake (a chat message becomes an appeal), records (the appeal row and its append-only event log), states (the
named state sets), handling (who handles an appeal and who is told), routing, workflow (the state machine),
deadlines and calendar (working time), duty (the on-duty roster), duplicates, evaluation (rate, chase, reopen,
withdraw), kpi, reports (the weekly sheet) and property_ranking (the property companies' 红黑榜).
"""
