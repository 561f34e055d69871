"""Task-queue integrations: the crashes a worker marks as a failed task and goes on from.

``celery.py`` and ``rq.py`` the hooks; ``task_context.py`` the task name and retry count a
report may carry (policy fields only: never the task's arguments, result, id, queue or broker
URL). Nothing is imported here: a queue's module is loaded only when it is wanted.
"""
