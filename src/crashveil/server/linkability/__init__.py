"""Linkability kept low and measured: quasi-identifiers generalised before storage until every
stored combination of a pseudonym period is shared by at least k installations (``ladder``,
``counting``, ``tables``), and the audit report's section on it (``audit_section``)."""
