"""Mail: the outbox every mail is written to first, templates, MIME messages, SMTP delivery,
and the operators' alerts and daily digest.
"""
